public import NIOCore

/// Typed stream operations: each sends one command and decodes its reply.
extension RedisClient {
    /// Appends an entry and returns its ID.
    public func xadd(_ key: String, maxLength: Int? = nil, fields: [(String, ByteBuffer)]) async throws -> String {
        try await xadd(.xadd(key, maxLength: maxLength, fields: fields))
    }

    /// Appends an entry whose field names are bytes (see `RedisCommand.xadd(_:maxLength:binaryFields:)`); returns its ID.
    @discardableResult
    public func xadd(_ key: String, maxLength: Int? = nil, binaryFields: [(ByteBuffer, ByteBuffer)]) async throws -> String {
        try await xadd(.xadd(key, maxLength: maxLength, binaryFields: binaryFields))
    }

    /// Sends an XADD built elsewhere (e.g. `InboundEntry.xadd(to:maxLength:)`, straight into one
    /// buffer on a hot path) and returns the new entry's ID.
    @discardableResult
    public func xadd(_ command: RedisCommand) async throws -> String {
        let reply = try await send(command)
        guard let id = reply.string else { throw RedisError(.unexpectedReply, "expected an entry ID, got \(reply)", command: "XADD") }
        return id
    }

    /// Creates a consumer group (and the stream, if missing). Returns `false` when the group already existed (BUSYGROUP).
    @discardableResult
    public func xgroupCreate(_ key: String, group: String, startID: String = "$") async throws -> Bool {
        do {
            _ = try await send(.xgroupCreate(key, group: group, startID: startID))
            return true
        } catch let error as RedisError where error.serverErrorPrefix == "BUSYGROUP" {
            return false
        }
    }

    /// Reads up to `count` entries for `consumer`, blocking up to `block` when none are there.
    public func xreadgroup(
        _ key: String, group: String, consumer: String, count: Int, block: Duration?, id: String = ">"
    ) async throws -> [StreamEntry] {
        let command = RedisCommand.xreadgroup(key, group: group, consumer: consumer, count: count, block: block, id: id)
        // A cluster's pipeline reports an unreachable slot as an error reply; `send` throws it as
        // the retryable `.notConnected` it is.
        if isCluster { return try StreamEntry.decodeRead(await send(command)) }
        let read = try await pipeline([], thenRead: command).read
        // An error reply (NOGROUP) is thrown and counted, as `send` does for every other command.
        if case .failure(let error) = read, error.code == .server { RedisMetrics.countError(error) }
        return try (read ?? .success([])).get()
    }

    /// Acknowledges entries; returns how many were pending.
    @discardableResult
    public func xack(_ key: String, group: String, ids: [String]) async throws -> Int {
        Int(try await send(.xack(key, group: group, ids: ids)).int ?? 0)
    }

    /// Claims entries idle for at least `minIdle` for `consumer`.
    public func xautoclaim(
        _ key: String, group: String, consumer: String, minIdle: Duration, start: String = "0-0", count: Int = 100
    ) async throws -> AutoClaimResult {
        try AutoClaimResult(await send(.xautoclaim(key, group: group, consumer: consumer, minIdle: minIdle, start: start, count: count)))
    }

    /// The summary form of XPENDING.
    public func xpendingSummary(_ key: String, group: String) async throws -> PendingSummary {
        try PendingSummary(await send(.xpendingSummary(key, group: group)))
    }

    /// The extended form of XPENDING.
    public func xpending(
        _ key: String, group: String, minIdle: Duration? = nil, count: Int, consumer: String? = nil
    ) async throws -> [PendingEntry] {
        try PendingEntry.decodeList(await send(.xpending(key, group: group, minIdle: minIdle, count: count, consumer: consumer)))
    }

    /// `XINFO GROUPS`; empty when the stream does not exist.
    public func xinfoGroups(_ key: String) async throws -> [StreamGroupInfo] {
        do {
            return try StreamGroupInfo.decodeList(await send(.xinfoGroups(key)))
        } catch let error as RedisError where error.message.contains("no such key") {
            return []
        }
    }

    /// `XINFO STREAM`; `nil` when the stream does not exist.
    public func xinfoStream(_ key: String) async throws -> StreamInfo? {
        do {
            return try StreamInfo(await send(.xinfoStream(key)))
        } catch let error as RedisError where error.message.contains("no such key") {
            return nil
        }
    }

    /// `XINFO CONSUMERS`.
    public func xinfoConsumers(_ key: String, group: String) async throws -> [StreamConsumerInfo] {
        try StreamConsumerInfo.decodeList(await send(.xinfoConsumers(key, group: group)))
    }

    /// `XLEN`.
    public func xlen(_ key: String) async throws -> Int {
        Int(try await send(.xlen(key)).int ?? 0)
    }

    /// `XRANGE`.
    public func xrange(_ key: String, start: String = "-", end: String = "+", count: Int? = nil) async throws -> [StreamEntry] {
        try StreamEntry.decodeRange(await send(.xrange(key, start: start, end: end, count: count)))
    }
}
