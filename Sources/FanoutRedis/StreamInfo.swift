/// Reads RESP2 "maps" (flat `[name, value, name, value …]` arrays) as XINFO returns them.
struct FlatMap {
    var values: [String: RedisValue] = [:]

    init(_ value: RedisValue) throws(RedisError) {
        guard case .array(let flat) = value, flat.count % 2 == 0 else {
            throw RedisError(.unexpectedReply, "XINFO: expected a flat map")
        }
        var index = 0
        while index < flat.count {
            if let name = flat[index].string { values[name] = flat[index + 1] }
            index += 2
        }
    }

    subscript(_ name: String) -> RedisValue? { values[name] }
}

/// One row of `XINFO GROUPS`.
public struct StreamGroupInfo: Sendable, Hashable {
    public var name: String
    public var consumers: Int
    /// Delivered to a consumer, not yet acknowledged.
    public var pending: Int
    public var lastDeliveredID: String
    /// Entries not yet delivered to any consumer of the group (Redis 7+; `nil` when Redis cannot tell, e.g. after XDEL).
    public var lag: Int?
    /// The logical number of the last entry delivered to the group, counted from the stream's
    /// first ever entry (Redis 7+; `nil` when Redis cannot tell).
    public var entriesRead: Int?

    public init(_ value: RedisValue) throws(RedisError) {
        let map = try FlatMap(value)
        name = map["name"]?.string ?? ""
        consumers = Int(map["consumers"]?.int ?? 0)
        pending = Int(map["pending"]?.int ?? 0)
        lastDeliveredID = map["last-delivered-id"]?.string ?? "0-0"
        lag = map["lag"]?.int.map(Int.init)
        entriesRead = map["entries-read"]?.int.map(Int.init)
    }

    public static func decodeList(_ value: RedisValue) throws(RedisError) -> [StreamGroupInfo] {
        var groups: [StreamGroupInfo] = []
        for row in value.array ?? [] { groups.append(try StreamGroupInfo(row)) }
        return groups
    }
}

/// The summary fields of `XINFO STREAM`.
public struct StreamInfo: Sendable, Hashable {
    public var length: Int
    public var groups: Int
    public var lastGeneratedID: String
    public var firstEntryID: String?
    public var lastEntryID: String?
    /// Every entry ever appended, trimmed or not (Redis 7+).
    public var entriesAdded: Int?

    public init(_ value: RedisValue) throws(RedisError) {
        let map = try FlatMap(value)
        length = Int(map["length"]?.int ?? 0)
        groups = Int(map["groups"]?.int ?? 0)
        lastGeneratedID = map["last-generated-id"]?.string ?? "0-0"
        firstEntryID = map["first-entry"]?.array?.first?.string
        lastEntryID = map["last-entry"]?.array?.first?.string
        entriesAdded = map["entries-added"]?.int.map(Int.init)
    }
}

/// One row of `XINFO CONSUMERS`.
public struct StreamConsumerInfo: Sendable, Hashable {
    public var name: String
    public var pending: Int
    /// Milliseconds since the consumer last interacted with the group.
    public var idleMilliseconds: Int64

    public init(_ value: RedisValue) throws(RedisError) {
        let map = try FlatMap(value)
        name = map["name"]?.string ?? ""
        pending = Int(map["pending"]?.int ?? 0)
        idleMilliseconds = map["idle"]?.int ?? 0
    }

    public static func decodeList(_ value: RedisValue) throws(RedisError) -> [StreamConsumerInfo] {
        var consumers: [StreamConsumerInfo] = []
        for row in value.array ?? [] { consumers.append(try StreamConsumerInfo(row)) }
        return consumers
    }
}
