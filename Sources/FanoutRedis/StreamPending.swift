/// The summary form of XPENDING: how many entries are delivered but not acknowledged, and by whom.
public struct PendingSummary: Sendable, Hashable {
    public var count: Int
    public var smallestID: String?
    public var greatestID: String?
    /// Pending count per consumer name.
    public var consumers: [String: Int]

    public init(_ value: RedisValue) throws(RedisError) {
        guard case .array(let parts) = value, parts.count == 4 else {
            throw RedisError(.unexpectedReply, "XPENDING: expected a 4-element summary", command: "XPENDING")
        }
        count = Int(parts[0].int ?? 0)
        smallestID = parts[1].string
        greatestID = parts[2].string
        consumers = [:]
        for consumer in parts[3].array ?? [] {
            guard let pair = consumer.array, pair.count == 2, let name = pair[0].string else { continue }
            consumers[name] = Int(pair[1].int ?? 0)
        }
    }
}

/// One row of the extended form of XPENDING.
public struct PendingEntry: Sendable, Hashable {
    public var id: String
    public var consumer: String
    /// Milliseconds since the entry was last delivered.
    public var idleMilliseconds: Int64
    /// How many times it was delivered (XREADGROUP and claims both count).
    public var deliveries: Int

    public init(_ value: RedisValue) throws(RedisError) {
        guard case .array(let parts) = value, parts.count == 4, let id = parts[0].string, let consumer = parts[1].string,
            let idle = parts[2].int, let deliveries = parts[3].int
        else {
            throw RedisError(.unexpectedReply, "XPENDING: expected [id, consumer, idle, deliveries]", command: "XPENDING")
        }
        self.id = id
        self.consumer = consumer
        self.idleMilliseconds = idle
        self.deliveries = Int(deliveries)
    }

    /// Decodes the whole extended reply.
    public static func decodeList(_ value: RedisValue) throws(RedisError) -> [PendingEntry] {
        var rows: [PendingEntry] = []
        for row in value.array ?? [] { rows.append(try PendingEntry(row)) }
        return rows
    }
}
