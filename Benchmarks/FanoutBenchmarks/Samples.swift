import FanoutCore
import FanoutRedis
import NIOCore

/// The values every benchmark works on, built once before measuring: realistic IDs, a text payload
/// of the given size, and the exact bytes Redis would send for an XREADGROUP reply.
enum Samples {
    static let edge = EdgeID("e1a2b3c4d")!
    static let connection = ConnectionID("e1a2b3c4d.Qk9vZ2xlLWJlbmNobWFyaw")!
    static let user = UserID("user-42")!
    /// When the edge received the frame, microseconds since 1970 (a fixed 2026 date).
    static let receivedAt: Int64 = 1_795_000_000_000_000
    static let streamKey = "fanout-bench:inbound"

    /// A text payload of `size` printable ASCII bytes (valid UTF-8, as a chat message would be).
    static func payload(_ size: Int) -> ByteBuffer {
        let alphabet = Array("{\"type\":\"chat\",\"text\":\"hello fanout\"} abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        for index in 0..<size { buffer.writeInteger(alphabet[index % alphabet.count]) }
        return buffer
    }

    /// The envelope a worker publishes for a reply: a text frame with the origin timestamp, no except list.
    static func envelope(_ size: Int) -> OutboundEnvelope {
        .frame(.text, payload(size), origin: receivedAt)
    }

    /// The entry an edge appends for one client message (an authenticated user, so every field is present).
    static func inboundEntry(_ size: Int) -> InboundEntry {
        InboundEntry(kind: .message, connection: connection, edge: edge, frameType: .text, receivedAt: receivedAt, user: user, payload: payload(size))
    }

    /// The entry as a worker reads it back: an ID and the fields XADD wrote, as separate buffers.
    static func streamEntry(_ size: Int, id: String = "1795000000000-0") -> StreamEntry {
        StreamEntry(id: id, fields: inboundEntry(size).fields.map { StreamEntry.Field(name: $0.0, value: $0.1) })
    }

    /// The bytes of an XREADGROUP reply with `count` entries: `[[key, [[id, [field, value, …]], …]]]`.
    static func xreadgroupReply(entries count: Int, payloadSize: Int) -> ByteBuffer {
        let entries: [RedisValue] = (0..<count).map { index in
            let entry = streamEntry(payloadSize, id: "1795000000000-\(index)")
            let fields = entry.fields.flatMap { [RedisValue.bulkString(ByteBuffer(string: $0.name)), .bulkString($0.value)] }
            return .array([.bulkString(ByteBuffer(string: entry.id)), .array(fields)])
        }
        var buffer = ByteBuffer()
        writeRESP(.array([.array([.bulkString(ByteBuffer(string: streamKey)), .array(entries)])]), into: &buffer)
        return buffer
    }

    /// The bytes of one bulk string reply (`GET` of a `size`-byte value).
    static func bulkStringReply(_ size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        writeRESP(.bulkString(payload(size)), into: &buffer)
        return buffer
    }

    /// RESP2 as the server writes it; only for building inputs, never measured.
    static func writeRESP(_ value: RedisValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let string): buffer.writeString("+\(string)\r\n")
        case .error(let string): buffer.writeString("-\(string)\r\n")
        case .integer(let integer): buffer.writeString(":\(integer)\r\n")
        case .null: buffer.writeString("$-1\r\n")
        case .bulkString(let bytes):
            buffer.writeString("$\(bytes.readableBytes)\r\n")
            buffer.writeImmutableBuffer(bytes)
            buffer.writeString("\r\n")
        case .array(let values):
            buffer.writeString("*\(values.count)\r\n")
            for element in values { writeRESP(element, into: &buffer) }
        }
    }
}
