public import FanoutRedis
public import NIOCore

extension InboundEntry {
    /// The XADD that appends this entry, written straight into a Redis connection's output buffer.
    ///
    /// The edge's hot path: one per client frame, so it builds no argument array and no
    /// intermediate buffer. It writes exactly the bytes of `xadd(to:maxLength:)` (a test pins the
    /// two together), which stays the one readable statement of the field table.
    public struct XADD: RedisCommandEncodable {
        public let entry: InboundEntry
        public let stream: String
        public let maxLength: Int?

        public init(_ entry: InboundEntry, stream: String, maxLength: Int?) {
            self.entry = entry
            self.stream = stream
            self.maxLength = maxLength
        }

        public var name: String { "XADD" }

        public func writeRESP(into buffer: inout ByteBuffer) {
            // XADD key [MAXLEN ~ n] * + 7 field/value pairs (+ user).
            let arguments = 3 + (maxLength == nil ? 0 : 3) + 14 + (entry.user == nil ? 0 : 2)
            buffer.reserveCapacity(minimumWritableBytes: 160 + stream.utf8.count + entry.payload.readableBytes)
            buffer.writeRESPArrayHeader(arguments)
            buffer.writeRESPBulk("XADD")
            buffer.writeRESPBulk(stream)
            if let maxLength {
                buffer.writeRESPBulk("MAXLEN")
                buffer.writeRESPBulk("~")
                buffer.writeRESPBulk(decimal: Int64(maxLength))
            }
            buffer.writeRESPBulk("*")
            buffer.writeRESPBulk("v")
            buffer.writeRESPBulk(InboundEntry.version)
            buffer.writeRESPBulk("kind")
            buffer.writeRESPBulk(entry.kind.rawValue)
            buffer.writeRESPBulk("conn")
            buffer.writeRESPBulk(entry.connection.rawValue)
            buffer.writeRESPBulk("edge")
            buffer.writeRESPBulk(entry.edge.rawValue)
            buffer.writeRESPBulk("type")
            buffer.writeRESPBulk(entry.frameType.rawValue)
            buffer.writeRESPBulk("at")
            buffer.writeRESPBulk(decimal: entry.receivedAt)
            if let user = entry.user {
                buffer.writeRESPBulk("user")
                buffer.writeRESPBulk(user.rawValue)
            }
            buffer.writeRESPBulk("payload")
            buffer.writeRESPBulk(entry.payload)
        }
    }
}
