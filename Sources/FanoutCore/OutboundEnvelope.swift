public import NIOCore
import FanoutRedis

/// What workers publish on connection, room and user channels, and what edges decode.
///
/// Format: one ASCII header line, then the raw payload:
///
///     F1 <kind> <origin> <except>\n<payload>
///     F1 <kind> <origin> <except> <epoch> <offset>\n<payload>
///
/// - `kind`: `text`, `binary` (deliver a frame), `close` (payload `<code> <reason>`),
///   `join` / `leave` (payload: a room name; the edge subscribes or unsubscribes the connection).
/// - `origin`: when the edge received the message that caused this one, microseconds since 1970,
///   or `-`; edges use it for the end-to-end latency metric.
/// - `except`: comma-separated connection IDs that must not receive a broadcast, or `-`.
/// - `<epoch> <offset>` (the offset form, history on): a room or user message's place in its
///   history (`StreamPosition`), written by Redis's history script; on a `join`, where the
///   member's messages start (it receives every message after that offset).
///
/// Human-readable in `redis-cli SUBSCRIBE`, and a header is a few dozen bytes. The golden-bytes
/// test pins it.
public enum OutboundEnvelope: Sendable, Hashable {
    /// A frame to write to the client(s) as it is.
    case frame(FrameType, ByteBuffer, origin: Int64? = nil, except: [ConnectionID] = [], position: StreamPosition? = nil)
    /// Close the connection with a WebSocket close code and reason.
    case close(code: UInt16, reason: String)
    /// Subscribe the connection (this is only valid on a connection channel) to a room's
    /// broadcasts; with a position, it receives every room message after it, from history first.
    case join(RoomName, from: StreamPosition? = nil)
    /// Undo `join`.
    case leave(RoomName)

    static let magic = "F1"
    /// Longest header an edge accepts; anything longer is not ours.
    static let maxHeaderLength = 64 * 1024

    /// The bytes to PUBLISH.
    public func encode(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: encodedSizeEstimate)
        write(into: &buffer)
        return buffer
    }

    /// About the number of bytes `write(into:)` writes (exact for plain frames).
    public var encodedSizeEstimate: Int {
        switch self {
        case .frame(_, let payload, _, let except, let position): payload.readableBytes + 32 + except.count * 40 + (position == nil ? 0 : 40)
        default: 64
        }
    }

    /// Appends the bytes to PUBLISH to `buffer` (a worker writes them straight into its PUBLISH
    /// command: no buffer of their own, no `String` for the origin).
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .frame(let type, let payload, let origin, let except, let position):
            Self.writeHeader(type, origin: origin, except: except, into: &buffer)
            if let position {
                buffer.writeInteger(UInt8(ascii: " "))
                buffer.writeRESPDecimalDigits(position.epoch)
                buffer.writeInteger(UInt8(ascii: " "))
                buffer.writeRESPDecimalDigits(position.offset)
            }
            buffer.writeInteger(UInt8(ascii: "\n"))
            buffer.writeImmutableBuffer(payload)
        case .close(let code, let reason):
            buffer.writeString("\(Self.magic) close - -\n\(code) \(reason)")
        case .join(let room, let position):
            let slot = position.map { " \($0.epoch) \($0.offset)" } ?? ""
            buffer.writeString("\(Self.magic) join - -\(slot)\n\(room.rawValue)")
        case .leave(let room):
            buffer.writeString("\(Self.magic) leave - -\n\(room.rawValue)")
        }
    }

    /// The header of a frame envelope up to (not including) the position and the newline:
    /// `F1 <kind> <origin> <except>`. The history script completes it with ` <epoch> <offset>\n`
    /// and the payload, once Redis has assigned the offset.
    public static func header(
        _ type: FrameType, origin: Int64?, except: [ConnectionID], extra: Int = 0, allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: extra + 32 + except.count * 40)
        writeHeader(type, origin: origin, except: except, into: &buffer)
        return buffer
    }

    /// `F1 <kind> <origin> <except>`, without the newline.
    static func writeHeader(_ type: FrameType, origin: Int64?, except: [ConnectionID], into buffer: inout ByteBuffer) {
        buffer.writeString(type == .text ? "F1 text " : "F1 binary ")
        if let origin { buffer.writeRESPDecimalDigits(origin) } else { buffer.writeInteger(UInt8(ascii: "-")) }
        buffer.writeInteger(UInt8(ascii: " "))
        if except.isEmpty {
            buffer.writeInteger(UInt8(ascii: "-"))
        } else {
            for (index, id) in except.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeString(id.rawValue)
            }
        }
    }

    /// Decodes a published message. Payload bytes are sliced, not copied.
    public init(decoding message: ByteBuffer) throws(EnvelopeError) {
        if let frame = Self.decodePlainFrame(message) {
            self = frame
            return
        }
        try self.init(decodingGeneral: message)
    }

    /// The common case, decoded from the bytes without a `String` or an array: a `text` or
    /// `binary` frame with an origin of at most 18 digits (or `-`), no except list, and either no
    /// position or one of at most 18 digits each (the offset form of room messages). Anything
    /// else returns `nil` and goes through the general decoder, which gives the same answer for
    /// these inputs (`EnvelopeTests` checks both on every case they share).
    static func decodePlainFrame(_ message: ByteBuffer) -> OutboundEnvelope? {
        message.withUnsafeReadableBytes { bytes -> OutboundEnvelope? in
            // "F1 text " or "F1 binary "
            guard bytes.count >= 8, bytes[0] == UInt8(ascii: "F"), bytes[1] == UInt8(ascii: "1"), bytes[2] == UInt8(ascii: " ") else {
                return nil
            }
            var index = 3
            let type: FrameType
            if bytes.count >= 8, bytes[3] == UInt8(ascii: "t"), bytes[4] == UInt8(ascii: "e"), bytes[5] == UInt8(ascii: "x"),
                bytes[6] == UInt8(ascii: "t"), bytes[7] == UInt8(ascii: " ")
            {
                type = .text
                index = 8
            } else if bytes.count >= 10, bytes[3] == UInt8(ascii: "b"), bytes[4] == UInt8(ascii: "i"), bytes[5] == UInt8(ascii: "n"),
                bytes[6] == UInt8(ascii: "a"), bytes[7] == UInt8(ascii: "r"), bytes[8] == UInt8(ascii: "y"), bytes[9] == UInt8(ascii: " ")
            {
                type = .binary
                index = 10
            } else {
                return nil
            }
            /// Up to 18 decimal digits at `index` (18 always fit an Int64; longer numbers go the general way).
            func number() -> Int64? {
                var value: Int64 = 0
                var digits = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    if digits == 18 { return nil }
                    value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                    digits += 1
                    index += 1
                }
                return digits > 0 ? value : nil
            }
            var origin: Int64?
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
                index += 1
            } else {
                guard let value = number() else { return nil }
                origin = value
            }
            // " -": no except list; then "\n", or " <epoch> <offset>\n".
            guard index + 3 <= bytes.count, bytes[index] == UInt8(ascii: " "), bytes[index + 1] == UInt8(ascii: "-") else { return nil }
            index += 2
            var position: StreamPosition?
            if bytes[index] == UInt8(ascii: " ") {
                index += 1
                guard let epoch = number(), index < bytes.count, bytes[index] == UInt8(ascii: " ") else { return nil }
                index += 1
                guard let offset = number(), index < bytes.count else { return nil }
                position = StreamPosition(epoch: epoch, offset: offset)
            }
            guard bytes[index] == UInt8(ascii: "\n") else { return nil }
            let payload = message.getSlice(at: message.readerIndex + index + 1, length: bytes.count - index - 1) ?? ByteBuffer()
            return .frame(type, payload, origin: origin, except: [], position: position)
        }
    }

    /// Decodes any envelope, field by field.
    init(decodingGeneral message: ByteBuffer) throws(EnvelopeError) {
        var buffer = message
        let view = buffer.readableBytesView
        guard let newline = view.prefix(Self.maxHeaderLength).firstIndex(of: UInt8(ascii: "\n")) else {
            throw EnvelopeError("no envelope header")
        }
        let headerLength = newline - view.startIndex
        let header = buffer.readString(length: headerLength)!
        buffer.moveReaderIndex(forwardBy: 1)
        // Split on " " by hand into a reserved array: `split` grows its result one append at a time,
        // which was three of the four allocations of a decode (Benchmarks/, BENCHMARKS.md).
        var parts: [Substring] = []
        parts.reserveCapacity(4)
        var fieldStart = header.startIndex
        for index in header.utf8.indices where header.utf8[index] == UInt8(ascii: " ") {
            parts.append(header[fieldStart..<index])
            fieldStart = header.utf8.index(after: index)
        }
        parts.append(header[fieldStart...])
        guard parts.count == 4 || parts.count == 6, parts[0] == Self.magic else { throw EnvelopeError("not a Fanout F1 envelope") }
        var position: StreamPosition?
        if parts.count == 6 {
            guard let epoch = Int64(parts[4]), epoch >= 0, let offset = Int64(parts[5]), offset >= 0,
                parts[4].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                parts[5].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else { throw EnvelopeError("bad position") }
            position = StreamPosition(epoch: epoch, offset: offset)
        }
        switch parts[1] {
        case "text", "binary":
            let type: FrameType = parts[1] == "text" ? .text : .binary
            var origin: Int64?
            if parts[2] != "-" {
                guard let value = Int64(parts[2]) else { throw EnvelopeError("bad origin timestamp") }
                origin = value
            }
            var except: [ConnectionID] = []
            if parts[3] != "-" {
                for raw in parts[3].split(separator: ",") {
                    guard let id = ConnectionID(String(raw)) else { throw EnvelopeError("bad connection ID in except list") }
                    except.append(id)
                }
            }
            self = .frame(type, buffer, origin: origin, except: except, position: position)
        case "close":
            guard position == nil else { throw EnvelopeError("a close carries no position") }
            let body = String(buffer: buffer)
            let codeText = body.prefix { $0 != " " }
            guard let code = UInt16(codeText), CloseCode.isValidToSend(code) else { throw EnvelopeError("bad close code") }
            let reason = body.dropFirst(codeText.count).drop { $0 == " " }
            self = .close(code: code, reason: CloseCode.truncated(String(reason)))
        case "join", "leave":
            guard let room = RoomName(String(buffer: buffer)) else { throw EnvelopeError("bad room name") }
            if parts[1] == "join" {
                self = .join(room, from: position)
            } else {
                guard position == nil else { throw EnvelopeError("a leave carries no position") }
                self = .leave(room)
            }
        default:
            throw EnvelopeError("unknown envelope kind")
        }
    }
}
