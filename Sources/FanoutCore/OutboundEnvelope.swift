public import NIOCore

/// What workers publish on connection, room and user channels, and what edges decode.
///
/// Format: one ASCII header line, then the raw payload:
///
///     F1 <kind> <origin> <except>\n<payload>
///
/// - `kind`: `text`, `binary` (deliver a frame), `close` (payload `<code> <reason>`),
///   `join` / `leave` (payload: a room name; the edge subscribes or unsubscribes the connection).
/// - `origin`: when the edge received the message that caused this one, microseconds since 1970,
///   or `-`; edges use it for the end-to-end latency metric.
/// - `except`: comma-separated connection IDs that must not receive a broadcast, or `-`.
///
/// Human-readable in `redis-cli SUBSCRIBE`, and a header is a few dozen bytes. The golden-bytes
/// test pins it.
public enum OutboundEnvelope: Sendable, Hashable {
    /// A frame to write to the client(s) as it is.
    case frame(FrameType, ByteBuffer, origin: Int64? = nil, except: [ConnectionID] = [])
    /// Close the connection with a WebSocket close code and reason.
    case close(code: UInt16, reason: String)
    /// Subscribe the connection (this is only valid on a connection channel) to a room's broadcasts.
    case join(RoomName)
    /// Undo `join`.
    case leave(RoomName)

    static let magic = "F1"
    /// Longest header an edge accepts; anything longer is not ours.
    static let maxHeaderLength = 64 * 1024

    /// The bytes to PUBLISH.
    public func encode(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        switch self {
        case .frame(let type, let payload, let origin, let except):
            var buffer = allocator.buffer(capacity: payload.readableBytes + 32 + except.count * 40)
            buffer.writeString(Self.magic)
            buffer.writeString(type == .text ? " text " : " binary ")
            buffer.writeString(origin.map(String.init) ?? "-")
            buffer.writeString(" ")
            buffer.writeString(except.isEmpty ? "-" : except.map(\.rawValue).joined(separator: ","))
            buffer.writeString("\n")
            buffer.writeImmutableBuffer(payload)
            return buffer
        case .close(let code, let reason):
            return ByteBuffer(string: "\(Self.magic) close - -\n\(code) \(reason)")
        case .join(let room):
            return ByteBuffer(string: "\(Self.magic) join - -\n\(room.rawValue)")
        case .leave(let room):
            return ByteBuffer(string: "\(Self.magic) leave - -\n\(room.rawValue)")
        }
    }

    /// Decodes a published message. Payload bytes are sliced, not copied.
    public init(decoding message: ByteBuffer) throws(EnvelopeError) {
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
        guard parts.count == 4, parts[0] == Self.magic else { throw EnvelopeError("not a Fanout F1 envelope") }
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
            self = .frame(type, buffer, origin: origin, except: except)
        case "close":
            let body = String(buffer: buffer)
            let codeText = body.prefix { $0 != " " }
            guard let code = UInt16(codeText), CloseCode.isValidToSend(code) else { throw EnvelopeError("bad close code") }
            let reason = body.dropFirst(codeText.count).drop { $0 == " " }
            self = .close(code: code, reason: CloseCode.truncated(String(reason)))
        case "join", "leave":
            guard let room = RoomName(String(buffer: buffer)) else { throw EnvelopeError("bad room name") }
            self = parts[1] == "join" ? .join(room) : .leave(room)
        default:
            throw EnvelopeError("unknown envelope kind")
        }
    }
}
