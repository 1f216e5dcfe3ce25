public import FanoutRedis
public import NIOCore

/// One entry of `<prefix>:dead`, read the way Docs/wire-format.md lays it out: the worker's five
/// fields first (`reason`, `deliveries`, `entry-id`, `consumer`, `failed-at`), then the original
/// entry's fields, byte for byte.
public struct DeadLetter: Sendable {
    public let reason: String
    public let deliveries: Int
    /// The entry's ID on the inbound stream.
    public let entryID: String
    public let consumer: String
    /// The original fields: exact name bytes and values.
    public let original: [StreamEntry.Field]

    /// The worker's field names, in the order it writes them.
    public static let workerFields = ["reason", "deliveries", "entry-id", "consumer", "failed-at"]

    /// Decodes `entry`; `nil` when it does not start with the worker's five fields in order.
    public init?(_ entry: StreamEntry) {
        let head = entry.fields.prefix(Self.workerFields.count)
        guard head.map(\.name) == Self.workerFields, let deliveries = Int(String(buffer: head[1].value)) else { return nil }
        reason = String(buffer: head[0].value)
        self.deliveries = deliveries
        entryID = String(buffer: head[2].value)
        consumer = String(buffer: head[3].value)
        original = Array(entry.fields.dropFirst(Self.workerFields.count))
    }

    /// The original fields as (name bytes, value bytes), for comparing with what was written.
    public var originalBytes: [[UInt8]] {
        original.flatMap { [Array($0.rawName.readableBytesView), Array($0.value.readableBytesView)] }
    }
}
