public import NIOCore
public import FanoutRedis

/// What an edge appends to the inbound stream for each client event, and what workers decode.
///
/// Stream fields, in this order (the payload last, so `XRANGE` in redis-cli stays readable):
///
/// | field     | value |
/// |-----------|-------|
/// | `v`       | format version, `1` |
/// | `kind`    | `message`, `open` or `close` |
/// | `conn`    | connection ID |
/// | `edge`    | edge ID |
/// | `type`    | `text` or `binary` (the WebSocket frame type) |
/// | `at`      | when the edge received it, microseconds since 1970 |
/// | `user`    | authenticated user ID (absent for anonymous connections) |
/// | `payload` | the frame's bytes, untouched |
///
/// A change here is a wire-format change: the golden-bytes test must be updated deliberately.
public struct InboundEntry: Sendable, Hashable {
    /// Why the entry was written.
    public enum Kind: String, Sendable, Hashable {
        /// A data frame from the client.
        case message
        /// The client connected (written after the edge subscribed to the connection's channel).
        case open
        /// The client disconnected (`payload` is empty).
        case close
    }

    /// The current format version.
    public static let version = "1"

    public var kind: Kind
    public var connection: ConnectionID
    public var edge: EdgeID
    public var frameType: FrameType
    /// Microseconds since 1970 when the edge received the frame.
    public var receivedAt: Int64
    public var user: UserID?
    public var payload: ByteBuffer

    public init(
        kind: Kind, connection: ConnectionID, edge: EdgeID, frameType: FrameType = .text, receivedAt: Int64,
        user: UserID? = nil, payload: ByteBuffer = ByteBuffer()
    ) {
        self.kind = kind
        self.connection = connection
        self.edge = edge
        self.frameType = frameType
        self.receivedAt = receivedAt
        self.user = user
        self.payload = payload
    }

    /// The stream fields, in order: read back from ``xadd(to:maxLength:)``, the one place that maps
    /// an entry to its fields (for the golden-bytes test and diagnostics; not a hot path).
    public var fields: [(String, ByteBuffer)] {
        // The command's arguments are: key, "*", then name/value pairs.
        let arguments = xadd(to: "", maxLength: nil).arguments.dropFirst(2)
        return stride(from: arguments.startIndex, to: arguments.endIndex, by: 2).map {
            (String(buffer: arguments[$0]), arguments[$0 + 1])
        }
    }

    /// The XADD that appends this entry to `stream` — the table above, written straight into the
    /// command (two allocations, where building a field array first took ~17).
    public func xadd(to stream: String, maxLength: Int?) -> RedisCommand {
        let textBytes = 64 + connection.rawValue.utf8.count + edge.rawValue.utf8.count + (user?.rawValue.utf8.count ?? 0)
        var command = RedisCommand.xadd(stream, maxLength: maxLength, reservingFields: 8, bytes: textBytes + payload.readableBytes)
        command.append("v")
        command.append(Self.version)
        command.append("kind")
        command.append(kind.rawValue)
        command.append("conn")
        command.append(connection.rawValue)
        command.append("edge")
        command.append(edge.rawValue)
        command.append("type")
        command.append(frameType.rawValue)
        command.append("at")
        command.append(decimal: receivedAt)
        if let user {
            command.append("user")
            command.append(user.rawValue)
        }
        command.append("payload")
        command.append(payload)
        return command
    }

    /// Decodes a stream entry written by an edge — or by anyone with `redis-cli XADD`, so every
    /// field is checked and a problem is reported as an `EnvelopeError` naming it.
    public init(_ entry: StreamEntry) throws(EnvelopeError) {
        guard !entry.fields.isEmpty else { throw EnvelopeError("entry has no fields (deleted while pending?)") }
        func text(_ name: String) throws(EnvelopeError) -> String {
            guard let value = entry[name] else { throw EnvelopeError("missing field '\(name)'") }
            return String(buffer: value)
        }
        // The fixed words are compared as bytes: a worker decodes every entry, and a `String`
        // per field was a measurable part of it.
        guard let versionBytes = entry["v"] else { throw EnvelopeError("missing field 'v'") }
        guard Self.equals(versionBytes, Self.version) else {
            throw EnvelopeError("unsupported format version '\(Self.excerpt(String(buffer: versionBytes)))'")
        }
        guard let kindBytes = entry["kind"] else { throw EnvelopeError("missing field 'kind'") }
        guard let kind = [Kind.message, .open, .close].first(where: { Self.equals(kindBytes, $0.rawValue) }) else {
            throw EnvelopeError("field 'kind' is not message, open or close")
        }
        guard let connection = ConnectionID(try text("conn")) else { throw EnvelopeError("field 'conn' is not a valid connection ID") }
        guard let edge = EdgeID(try text("edge")) else { throw EnvelopeError("field 'edge' is not a valid edge ID") }
        guard let typeBytes = entry["type"] else { throw EnvelopeError("missing field 'type'") }
        guard let frameType = [FrameType.text, .binary].first(where: { Self.equals(typeBytes, $0.rawValue) }) else {
            throw EnvelopeError("field 'type' is not text or binary")
        }
        guard let at = entry["at"] else { throw EnvelopeError("missing field 'at'") }
        guard let receivedAt = Self.decimal(at), receivedAt >= 0 else { throw EnvelopeError("field 'at' is not a timestamp") }
        var user: UserID?
        if let raw = entry["user"] {
            guard let parsed = UserID(String(buffer: raw)) else { throw EnvelopeError("field 'user' is not a valid user ID") }
            user = parsed
        }
        guard let payload = entry["payload"] else { throw EnvelopeError("missing field 'payload'") }
        if frameType == .text, kind == .message, !Self.isValidUTF8(payload) {
            throw EnvelopeError("text payload is not valid UTF-8")
        }
        self.init(kind: kind, connection: connection, edge: edge, frameType: frameType, receivedAt: receivedAt, user: user, payload: payload)
    }

    /// Whether `buffer` holds exactly `text`'s UTF-8.
    static func equals(_ buffer: ByteBuffer, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { expected in buffer.withUnsafeReadableBytes { $0.elementsEqual(expected) } }
    }

    /// A non-negative decimal that fits an `Int64`, read from the bytes without making a `String`.
    static func decimal(_ buffer: ByteBuffer) -> Int64? {
        guard (1...19).contains(buffer.readableBytes) else { return nil }
        var value: Int64 = 0
        for byte in buffer.readableBytesView {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflowShift, !overflowAdd else { return nil }
            value = sum
        }
        return value
    }

    /// Whether the bytes are valid UTF-8, checked in place (the payload can be large: no copy),
    /// with the edge's DFA: ASCII runs eight bytes at a time.
    static func isValidUTF8(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes(UTF8Validator.isValid)
    }
}

extension InboundEntry {
    /// At most 16 characters of a value someone else wrote, for a reason that is logged and stored:
    /// anything but printable ASCII becomes `?`, so a value cannot forge a log line (a newline) or
    /// smuggle control or invalid bytes into the dead-letter stream.
    static func excerpt(_ value: String) -> String {
        String(value.unicodeScalars.prefix(16).map { (0x20..<0x7F).contains($0.value) ? Character($0) : "?" })
    }
}

/// The WebSocket frame type of a payload; preserved end to end.
public enum FrameType: String, Sendable, Hashable {
    case text
    case binary
}

/// Why bytes from Redis could not be decoded into a Fanout envelope.
public struct EnvelopeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A short, payload-free reason, suitable for a dead-letter entry.
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
