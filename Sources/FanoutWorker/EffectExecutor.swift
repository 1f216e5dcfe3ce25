import FanoutCore
import FanoutRedis
import Logging
import Synchronization

/// Performs a handler's effects in order with one pipelined round trip, and counts publishes that
/// reached nobody.
struct EffectExecutor: Sendable {
    let redis: RedisClient
    let keySpace: KeySpace
    let logger: Logger
    let counters: WorkerCounters

    /// Sends every effect's commands as one pipeline.
    /// - Throws: the first error reply or a connection error; the entry then stays unacknowledged.
    func perform(_ effects: [Effect]) async throws {
        guard !effects.isEmpty else { return }
        var commands: [RedisCommand] = []
        // For each PUBLISH: its index in `commands`, and what an unheard publish means.
        var publishes: [(index: Int, effect: Effect)] = []
        commands.reserveCapacity(effects.count)
        for effect in effects {
            switch effect {
            case .publish(let channel, let envelope, _):
                publishes.append((commands.count, effect))
                commands.append(.publish(channel, envelope.encode()))
            case .join(let connection, let room):
                // Presence first, then the control message: once the edge has subscribed the
                // connection, `members` already lists it.
                commands.append(.sadd(keySpace.roomMembers(room), [connection.rawValue]))
                commands.append(.sadd(keySpace.connectionRooms(connection), [room.rawValue]))
                publishes.append((commands.count, effect))
                commands.append(.publish(keySpace.connection(connection), OutboundEnvelope.join(room).encode()))
            case .leave(let connection, let room):
                commands.append(.srem(keySpace.roomMembers(room), [connection.rawValue]))
                commands.append(.srem(keySpace.connectionRooms(connection), [room.rawValue]))
                publishes.append((commands.count, effect))
                commands.append(.publish(keySpace.connection(connection), OutboundEnvelope.leave(room).encode()))
            }
        }
        let replies = try await redis.pipeline(commands)
        for (command, reply) in zip(commands, replies) {
            if case .error(let message) = reply { throw RedisError(.server, message, command: command.name) }
        }
        let unheard = publishes.compactMap { index, effect -> String? in
            guard replies[index].int == 0, case .publish(let channel, _, .connection) = effect else { return nil }
            return channel
        }
        if !unheard.isEmpty { try await retryIfStillOpen(unheard) }
        var cleanup: [RedisCommand] = []
        for (index, effect) in publishes where replies[index].int == 0 {
            switch effect {
            case .publish(let channel, _, .connection):
                counters.undeliverableOne()
                logger.debug("result undeliverable: no edge holds the connection", metadata: ["fanout.channel": "\(channel)"])
            case .join(let connection, let room):
                // The connection is gone: do not leave it listed as a member.
                counters.undeliverableOne()
                cleanup.append(.srem(keySpace.roomMembers(room), [connection.rawValue]))
                cleanup.append(.del([keySpace.connectionRooms(connection)]))
            default:
                break  // a room or user nobody is connected to: nothing was lost
            }
        }
        if !cleanup.isEmpty { _ = try? await redis.pipeline(cleanup) }
    }
}

