public import NIOCore

extension RedisCommand {
    /// `XADD key [MAXLEN ~ n] * field value …` — https://redis.io/commands/xadd. Replies with the new entry ID.
    ///
    /// `MAXLEN ~` trims approximately (whole radix-tree nodes), which is what keeps XADD O(1).
    public static func xadd(_ key: String, maxLength: Int? = nil, fields: [(String, ByteBuffer)]) -> Self {
        var command = xadd(key, maxLength: maxLength, reservingFields: fields.count, bytes: fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.readableBytes })
        for (field, value) in fields {
            command.append(field)
            command.append(value)
        }
        return command
    }

    /// `XADD key [MAXLEN ~ n] *` with room reserved for `fields` field/value pairs of `bytes`
    /// bytes in all; the caller appends the pairs. For hot paths that build the fields in place.
    public static func xadd(_ key: String, maxLength: Int?, reservingFields fields: Int, bytes: Int) -> Self {
        var command = RedisCommand("XADD", reservingArguments: 5 + 2 * fields, bytes: key.utf8.count + 24 + bytes)
        command.append(key)
        if let maxLength {
            command.append("MAXLEN")
            command.append("~")
            command.append(maxLength)
        }
        command.append("*")
        return command
    }

    /// `XADD` with field names as bytes: for copying an entry whose names anyone may have chosen
    /// (a dead letter), byte for byte.
    public static func xadd(_ key: String, maxLength: Int? = nil, binaryFields: [(ByteBuffer, ByteBuffer)]) -> Self {
        var command = RedisCommand("XADD", [key])
        if let maxLength {
            command.append("MAXLEN")
            command.append("~")
            command.append(maxLength)
        }
        command.append("*")
        for (field, value) in binaryFields {
            command.append(field)
            command.append(value)
        }
        return command
    }

    /// `XGROUP CREATE key group id [MKSTREAM]` — https://redis.io/commands/xgroup-create
    public static func xgroupCreate(_ key: String, group: String, startID: String = "$", makeStream: Bool = true) -> Self {
        RedisCommand("XGROUP", ["CREATE", key, group, startID] + (makeStream ? ["MKSTREAM"] : []))
    }

    /// `XGROUP DELCONSUMER key group consumer` — replies with the pending count the consumer had.
    public static func xgroupDelConsumer(_ key: String, group: String, consumer: String) -> Self {
        RedisCommand("XGROUP", ["DELCONSUMER", key, group, consumer])
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] STREAMS key id` — https://redis.io/commands/xreadgroup
    ///
    /// `id` is `>` for new entries, or `0` to re-read this consumer's own pending entries.
    public static func xreadgroup(
        _ key: String, group: String, consumer: String, count: Int? = nil, block: Duration? = nil, id: String = ">"
    ) -> Self {
        var command = RedisCommand("XREADGROUP", ["GROUP", group, consumer])
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        if let block {
            command.append("BLOCK")
            command.append(Int(block.milliseconds))
            command.blockingTime = block
        }
        command.append("STREAMS")
        command.append(key)
        command.append(id)
        return command
    }

    /// `XACK key group id [id …]` — https://redis.io/commands/xack. Replies with the number acknowledged.
    public static func xack(_ key: String, group: String, ids: [String]) -> Self {
        RedisCommand("XACK", [key, group] + ids)
    }

    /// `XAUTOCLAIM key group consumer min-idle-time start [COUNT n]` — https://redis.io/commands/xautoclaim
    public static func xautoclaim(
        _ key: String, group: String, consumer: String, minIdle: Duration, start: String = "0-0", count: Int = 100
    ) -> Self {
        RedisCommand("XAUTOCLAIM", [key, group, consumer, String(minIdle.milliseconds), start, "COUNT", String(count)])
    }

    /// `XCLAIM key group consumer min-idle-time id… JUSTID` — https://redis.io/commands/xclaim
    ///
    /// With this worker as `consumer`, it resets the idle time of entries it still holds, so that
    /// no other worker's XAUTOCLAIM takes them while they are being handled (`JUSTID`: the delivery
    /// count stays as it is).
    public static func xclaimJustID(_ key: String, group: String, consumer: String, minIdle: Duration, ids: [String]) -> Self {
        RedisCommand("XCLAIM", [key, group, consumer, String(minIdle.milliseconds)] + ids + ["JUSTID"])
    }

    /// `XPENDING key group` (summary form) — https://redis.io/commands/xpending
    public static func xpendingSummary(_ key: String, group: String) -> Self { RedisCommand("XPENDING", [key, group]) }

    /// `XPENDING key group [IDLE ms] start end count [consumer]` (extended form).
    public static func xpending(
        _ key: String, group: String, minIdle: Duration? = nil, start: String = "-", end: String = "+", count: Int,
        consumer: String? = nil
    ) -> Self {
        var arguments = [key, group]
        if let minIdle { arguments += ["IDLE", String(minIdle.milliseconds)] }
        arguments += [start, end, String(count)]
        if let consumer { arguments.append(consumer) }
        return RedisCommand("XPENDING", arguments)
    }

    /// `XINFO GROUPS key` — https://redis.io/commands/xinfo-groups
    public static func xinfoGroups(_ key: String) -> Self { RedisCommand("XINFO", ["GROUPS", key]) }

    /// `XINFO STREAM key` — https://redis.io/commands/xinfo-stream
    public static func xinfoStream(_ key: String) -> Self { RedisCommand("XINFO", ["STREAM", key]) }

    /// `XINFO CONSUMERS key group` — https://redis.io/commands/xinfo-consumers
    public static func xinfoConsumers(_ key: String, group: String) -> Self { RedisCommand("XINFO", ["CONSUMERS", key, group]) }

    /// `XLEN key` — https://redis.io/commands/xlen
    public static func xlen(_ key: String) -> Self { RedisCommand("XLEN", [key]) }

    /// `XDEL key id [id …]` — https://redis.io/commands/xdel
    public static func xdel(_ key: String, ids: [String]) -> Self { RedisCommand("XDEL", [key] + ids) }

    /// `XTRIM key MAXLEN [~] n` — https://redis.io/commands/xtrim. Replies with the number of entries removed.
    public static func xtrim(_ key: String, maxLength: Int, approximate: Bool = true) -> Self {
        RedisCommand("XTRIM", [key, "MAXLEN"] + (approximate ? ["~"] : []) + [String(maxLength)])
    }

    /// `XTRIM key MINID [~] id` — removes entries whose ID is below `minID` (Redis 6.2+). Replies
    /// with the number removed.
    ///
    /// With `~` Redis removes only whole radix-tree nodes, so it never removes an entry at or
    /// above `minID` and may keep a few below it; it also stops after about 100 nodes' worth of
    /// entries per call (its default `LIMIT`), so one call never blocks the server for long —
    /// callers repeat it while it removes something.
    public static func xtrim(_ key: String, minID: String, approximate: Bool = true) -> Self {
        RedisCommand("XTRIM", [key, "MINID"] + (approximate ? ["~"] : []) + [minID])
    }

    /// `XRANGE key start end [COUNT n]` — https://redis.io/commands/xrange
    public static func xrange(_ key: String, start: String = "-", end: String = "+", count: Int? = nil) -> Self {
        RedisCommand("XRANGE", [key, start, end] + (count.map { ["COUNT", String($0)] } ?? []))
    }
}

extension Duration {
    /// Whole milliseconds, rounded down: what Redis takes for BLOCK, IDLE, PX and PEXPIRE.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
