public import FanoutRedis
public import NIOCore

/// The three Lua scripts behind room and user history, as commands, and their replies as values.
///
/// Each runs atomically in Redis, which is what makes offsets exact: `append` assigns the next
/// offset, keeps the message and publishes it in one step, so a message is in the history if and
/// only if it was published, and live messages and history never disagree about an offset. Sent
/// with EVAL, not EVALSHA: Redis caches the compiled script by its hash, and a script cache
/// emptied by a restart or `SCRIPT FLUSH` can never fail a broadcast (decision 0031).
public enum HistoryScript {
    /// Both scripts start here: the room's epoch, created — with an empty history and offset 0 —
    /// when the offsets hash is missing (a new room, or one whose record Redis lost).
    static let ensureEpoch = """
        local epoch = redis.call('HGET', KEYS[1], 'epoch')
        if not epoch then
          local now = redis.call('TIME')
          epoch = now[1] .. string.format('%06d', now[2])
          redis.call('DEL', KEYS[2])
          redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
        end
        """

    /// KEYS: offsets hash, history stream. ARGV: channel, size, ttl ms, offsets ttl ms, the
    /// envelope header (`F1 text <origin> <except>`), then the payload's pieces: the offset is
    /// written between each two. Returns PUBLISH's receiver count.
    static let appendSource = """
        \(ensureEpoch)
        local offset = string.format('%d', redis.call('HINCRBY', KEYS[1], 'offset', 1))
        local envelope = ARGV[5] .. ' ' .. epoch .. ' ' .. offset .. '\\n' .. table.concat(ARGV, offset, 6)
        redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], offset .. '-0', 'e', envelope)
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        return redis.call('PUBLISH', ARGV[1], envelope)
        """

    /// `appendSource` for a cluster: the channel is a shard channel of the keys' slot (`SPUBLISH`).
    static let shardedAppendSource = appendSource.replacing("'PUBLISH'", with: "'SPUBLISH'")

    /// KEYS: offsets hash, history stream. ARGV: offsets ttl ms. Creates the epoch if the room has
    /// none yet (so a member who joins before the first message has the epoch its offsets belong
    /// to). Returns {epoch, offset, the oldest kept entry's ID or ""}.
    static let positionSource = """
        \(ensureEpoch)
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
        return {epoch, redis.call('HGET', KEYS[1], 'offset'), oldest and oldest[1] or ''}
        """

    /// KEYS: offsets hash, history stream. ARGV: after (an offset), count. Read only. Returns
    /// {epoch or "", offset or "0", then the envelopes of up to `count` messages after `after`}.
    static let readSource = """
        local meta = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
        local out = {meta[1] or '', meta[2] or '0'}
        for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])) do
          out[#out + 1] = entry[2][2]
        end
        return out
        """

    /// Assigns the next offset of `keys`' history to a message, keeps it and publishes it on
    /// `channel`: `header` + ` <epoch> <offset>\n` + the payload pieces joined by the offset.
    public static func append(
        _ keys: HistoryKeys, channel: String, settings: HistorySettings, header: ByteBuffer, pieces: [ByteBuffer]
    ) -> RedisCommand {
        let bytes = header.readableBytes + pieces.reduce(0) { $0 + $1.readableBytes } + appendSource.utf8.count + 200
        var command = RedisCommand("EVAL", reservingArguments: 9 + pieces.count, bytes: bytes)
        command.append(keys.sharded ? shardedAppendSource : appendSource)
        command.append(2)
        command.append(keys.offsets)
        command.append(keys.stream)
        command.append(channel)
        command.append(settings.size)
        command.append(decimal: settings.ttl.milliseconds)
        command.append(decimal: settings.metaTTL.milliseconds)
        command.append(header)
        for piece in pieces { command.append(piece) }
        if pieces.isEmpty { command.append("") }
        return command
    }

    /// The room's epoch and offset now, and the oldest offset its history still holds.
    public static func position(_ keys: HistoryKeys, settings: HistorySettings) -> RedisCommand {
        var command = RedisCommand("EVAL", [positionSource, "2", keys.offsets, keys.stream])
        command.append(decimal: settings.metaTTL.milliseconds)
        return command
    }

    /// Up to `count` kept messages after offset `after`, with the history's epoch and offset.
    public static func read(_ keys: HistoryKeys, after: Int64, count: Int) -> RedisCommand {
        var command = RedisCommand("EVAL", [readSource, "2", keys.offsets, keys.stream])
        command.append(decimal: after)
        command.append(count)
        return command
    }
}

/// A room's history as `HistoryScript.position` found it.
public struct HistoryState: Sendable, Hashable {
    /// The epoch and the offset of the room's last message (0 before the first).
    public var position: StreamPosition
    /// The oldest offset the history still holds; `nil` when it holds none (no message yet, or
    /// the history expired).
    public var oldest: Int64?

    public init(position: StreamPosition, oldest: Int64?) {
        self.position = position
        self.oldest = oldest
    }

    /// Decodes the script's reply.
    public init(reply: RedisValue) throws(EnvelopeError) {
        guard let parts = reply.array, parts.count == 3, let epoch = parts[0].string.flatMap({ Int64($0) }),
            let offset = parts[1].string.flatMap({ Int64($0) }) ?? parts[1].int
        else { throw EnvelopeError("unexpected reply to the history position script") }
        let oldestID = parts[2].string ?? ""
        self.position = StreamPosition(epoch: epoch, offset: offset)
        self.oldest = oldestID.isEmpty ? nil : Int64(oldestID.prefix { $0 != "-" })
    }
}

/// Messages read from a history by `HistoryScript.read`.
public struct HistoryPage: Sendable {
    /// The history's epoch, or `nil` when Redis has no record of it (never used, or lost).
    public var epoch: Int64?
    /// The offset of the history's last message.
    public var offset: Int64
    /// The envelopes after the requested offset, in order, as published (offset form).
    public var envelopes: [ByteBuffer]

    /// Decodes the script's reply.
    public init(reply: RedisValue) throws(EnvelopeError) {
        guard case .array(let parts) = reply, parts.count >= 2, let offset = parts[1].string.flatMap({ Int64($0) }) else {
            throw EnvelopeError("unexpected reply to the history read script")
        }
        let epochText = parts[0].string ?? ""
        self.epoch = epochText.isEmpty ? nil : Int64(epochText)
        self.offset = offset
        self.envelopes = parts.dropFirst(2).compactMap {
            if case .bulkString(let bytes) = $0 { return bytes }
            return nil
        }
    }
}
