import FanoutCore
import FanoutRedis
import Logging

extension EffectExecutor {
    /// A result for a connection reached no subscriber although its edge still lists the
    /// connection as open: the edge's subscriber is reconnecting (a Redis failover or restart).
    /// Thrown so the entry stays pending and is handled again after `claimIdle`, by when the edge
    /// has restored its subscriptions — instead of the result being lost in the gap.
    struct UnheardResult: Error, CustomStringConvertible {
        let channel: String
        var description: String { "a result reached no subscriber while its connection is still open; retrying later" }
    }

    /// Throws `UnheardResult` when any of `channels` (connection channels whose PUBLISH reached
    /// nobody) belongs to a connection its edge still has in `<prefix>:edge:<id>:conns`. A closed
    /// connection is removed from that set by its edge (or by the dead-edge sweep), so a result
    /// for it is simply undeliverable, as before; `maxDeliveries` bounds the retries either way.
    func retryIfStillOpen(_ channels: [String]) async throws {
        let prefix = keySpace.connectionChannelPrefix
        var commands: [RedisCommand] = []
        var asked: [String] = []
        for channel in channels where channel.hasPrefix(prefix) {
            guard let id = ConnectionID(String(channel.dropFirst(prefix.count))), let edge = id.edge else { continue }
            commands.append(.sismember(keySpace.edgeConnections(edge), id.rawValue))
            asked.append(channel)
        }
        guard !commands.isEmpty else { return }
        let replies = try await redis.pipeline(commands)
        if let index = replies.firstIndex(where: { $0.int == 1 }) {
            logger.debug("result unheard by an open connection; the entry will be retried", metadata: ["fanout.channel": "\(asked[index])"])
            throw UnheardResult(channel: asked[index])
        }
    }
}
