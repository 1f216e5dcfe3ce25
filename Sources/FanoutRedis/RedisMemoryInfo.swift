extension RedisCommand {
    /// `INFO section` — https://redis.io/commands/info. Replies with `name:value` lines.
    public static func info(_ section: String) -> Self { RedisCommand("INFO", [section]) }
}

/// The figures of `INFO memory` an operator sizes Redis by.
public struct RedisMemoryInfo: Sendable, Hashable, Codable {
    /// `used_memory`: bytes Redis's allocator holds for data and buffers — what `maxmemory` is
    /// compared with, and what the stream's entries show up in.
    public var usedMemory: Int
    /// `maxmemory` (0: no limit).
    public var maxMemory: Int

    public init(usedMemory: Int, maxMemory: Int) {
        self.usedMemory = usedMemory
        self.maxMemory = maxMemory
    }

    /// Reads the `INFO memory` reply; `nil` when `used_memory` is missing.
    public init?(_ value: RedisValue) {
        guard let text = value.string else { return nil }
        var fields: [Substring: Int] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":"), let number = Int(line[line.index(after: colon)...]) else { continue }
            fields[line[..<colon]] = number
        }
        guard let used = fields["used_memory"] else { return nil }
        self.init(usedMemory: used, maxMemory: fields["maxmemory"] ?? 0)
    }
}

extension RedisClient {
    /// `INFO memory`, decoded.
    public func memoryInfo() async throws -> RedisMemoryInfo {
        let reply = try await send(.info("memory"))
        guard let memory = RedisMemoryInfo(reply) else {
            throw RedisError(.unexpectedReply, "INFO memory: no used_memory field", command: "INFO")
        }
        return memory
    }
}
