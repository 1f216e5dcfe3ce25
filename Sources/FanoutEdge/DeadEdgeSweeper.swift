import FanoutCore
import FanoutRedis
import Logging
import NIOCore

/// Cleans up after edges that stopped beating (crashed, killed, partitioned), so that nothing they
/// left in Redis grows: their connections leave every room, a `close` entry is appended for each
/// (handlers see the disconnect), and their bookkeeping keys are deleted.
///
/// Several survivors may notice the same dead edge; `ZREM` decides which one cleans (only one gets 1).
struct DeadEdgeSweeper: Sendable {
    let edge: Edge

    func sweep(now: Int64) async {
        let keySpace = edge.keySpace
        let deadline = now - edge.configuration.heartbeatTimeout.milliseconds
        guard let dead = try? await edge.redis.send(.zrangebyscore(keySpace.edges, min: "-inf", max: "(\(deadline)")).array else { return }
        for raw in dead {
            guard let name = raw.string, let deadEdge = EdgeID(name), deadEdge != edge.configuration.edgeID else { continue }
            guard (try? await edge.redis.send(.zrem(keySpace.edges, [name])).int) == 1 else { continue }  // another edge cleans it
            await clean(after: deadEdge)
        }
    }

    private func clean(after deadEdge: EdgeID) async {
        let keySpace = edge.keySpace
        do {
            let members = try await edge.redis.send(.smembers(keySpace.edgeConnections(deadEdge))).array ?? []
            let connections = members.compactMap { $0.string.flatMap(ConnectionID.init) }
            for connection in connections {
                await edge.removePresence(of: connection)
                let entry = InboundEntry(kind: .close, connection: connection, edge: deadEdge, receivedAt: WallClock.microseconds())
                _ = try? await edge.redis.xadd(entry.xadd(to: keySpace.inboundStream(for: connection), maxLength: edge.configuration.maxStreamLength))
            }
            _ = try await edge.redis.send(.del([keySpace.edgeConnections(deadEdge)]))
            edge.logger.warning("cleaned up after an edge whose heartbeat expired", metadata: [
                "fanout.dead_edge": "\(deadEdge)", "fanout.count": "\(connections.count)",
            ])
        } catch {
            edge.logger.warning("cleanup after a dead edge failed; its keys may linger", metadata: [
                "fanout.dead_edge": "\(deadEdge)", "fanout.error": "\(error)",
            ])
        }
    }
}
