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
            // XADD key [MAXLEN ~ n] * + 7 field/value pairs (+ user). The size is summed first, so
            // the whole command is copied into one reserved region (`RESPRawWriter`).
            let arguments = 3 + (maxLength == nil ? 0 : 3) + 14 + (entry.user == nil ? 0 : 2)
            var size = RESPRawWriter.arrayHeaderSize(arguments)
            size += RESPRawWriter.bulkSize(4) + RESPRawWriter.bulkSize(stream.utf8.count)
            if let maxLength { size += RESPRawWriter.bulkSize(6) + RESPRawWriter.bulkSize(1) + RESPRawWriter.bulkSize(decimal: Int64(maxLength)) }
            size += RESPRawWriter.bulkSize(1)
            size += RESPRawWriter.bulkSize(1) + RESPRawWriter.bulkSize(InboundEntry.version.utf8.count)
            size += RESPRawWriter.bulkSize(4) + RESPRawWriter.bulkSize(entry.kind.rawValue.utf8.count)
            size += RESPRawWriter.bulkSize(4) + RESPRawWriter.bulkSize(entry.connection.rawValue.utf8.count)
            size += RESPRawWriter.bulkSize(4) + RESPRawWriter.bulkSize(entry.edge.rawValue.utf8.count)
            size += RESPRawWriter.bulkSize(4) + RESPRawWriter.bulkSize(entry.frameType.rawValue.utf8.count)
            size += RESPRawWriter.bulkSize(2) + RESPRawWriter.bulkSize(decimal: entry.receivedAt)
            if let user = entry.user { size += RESPRawWriter.bulkSize(4) + RESPRawWriter.bulkSize(user.rawValue.utf8.count) }
            size += RESPRawWriter.bulkSize(7) + RESPRawWriter.bulkSize(entry.payload.readableBytes)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { target in
                var writer = RESPRawWriter(target)
                writer.arrayHeader(arguments)
                writer.bulk("XADD")
                writer.bulk(stream)
                if let maxLength {
                    writer.bulk("MAXLEN")
                    writer.bulk("~")
                    writer.bulk(decimal: Int64(maxLength))
                }
                writer.bulk("*")
                writer.bulk("v")
                writer.bulk(InboundEntry.version)
                writer.bulk("kind")
                writer.bulk(entry.kind.rawValue)
                writer.bulk("conn")
                writer.bulk(entry.connection.rawValue)
                writer.bulk("edge")
                writer.bulk(entry.edge.rawValue)
                writer.bulk("type")
                writer.bulk(entry.frameType.rawValue)
                writer.bulk("at")
                writer.bulk(decimal: entry.receivedAt)
                if let user = entry.user {
                    writer.bulk("user")
                    writer.bulk(user.rawValue)
                }
                writer.bulk("payload")
                writer.bulk(entry.payload)
                precondition(writer.count == size, "XADD size miscounted")
                return size
            }
        }
    }
}
