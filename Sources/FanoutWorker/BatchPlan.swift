import FanoutCore
import FanoutRedis
import NIOCore

/// The Redis commands of one batch's effects, written as one pipeline, and what their replies mean.
///
/// Each entry's commands are a contiguous range of the pipeline. An entry is acknowledged only when
/// every command of its range succeeded: one failing PUBLISH leaves only its own entry pending
/// (to be reclaimed and handled again), not the whole batch.
struct BatchPlan {
    private struct Planned {
        let id: String
        let range: Range<Int>
        /// For each PUBLISH: its index in `commands` and what an unheard publish means.
        let publishes: [(index: Int, effect: Effect)]
        /// Why the entry is dead-lettered; `nil` for an entry whose effects are published.
        let deadLetterReason: String?
    }

    /// What the replies said.
    struct Outcome {
        /// Entries whose effects were all performed: acknowledge these.
        var acknowledged: [String] = []
        /// Entries that were dead-lettered (acknowledged too), with the reason.
        var deadLettered: [(id: String, reason: String)] = []
        /// Entries whose effects failed, with Redis's error text: they stay pending.
        var failed: [(id: String, message: String)] = []
        /// Results published to a connection channel nobody listened on.
        var undeliverable = 0
        /// Entries (already counted as acknowledged) with a result to a connection that nobody
        /// heard: if that connection's edge still lists it, its subscriber is reconnecting (a
        /// failover), and the entry must stay pending to be handled again (`Worker.confirmUnheard`).
        var unheard: [(id: String, connection: ConnectionID)] = []
        /// Presence written for a join whose connection is gone, to remove again.
        var cleanup: [RedisCommand] = []
    }

    let keySpace: KeySpace
    /// With history on, a room or user message is one EVAL of `HistoryScript.append` instead of a PUBLISH.
    let history: HistorySettings
    private(set) var commands: [RedisCommand] = []
    private var planned: [Planned] = []

    init(keySpace: KeySpace, history: HistorySettings = .off) {
        self.keySpace = keySpace
        self.history = history
    }

    /// `true` when no entry was planned (every one is left pending for a retry).
    var isEmpty: Bool { planned.isEmpty }

    /// The IDs of the entries this plan carries (handled, not yet acknowledged).
    var entryIDs: [String] { planned.map(\.id) }

    /// Adds the commands of one handled entry's effects, in the order the handler asked for them.
    /// An entry with no effects is acknowledged without a command.
    mutating func add(_ effects: [Effect], for id: String) {
        let start = commands.count
        var publishes: [(index: Int, effect: Effect)] = []
        for effect in effects {
            switch effect {
            case .publish(let channel, let envelope, _):
                publishes.append((commands.count, effect))
                commands.append(.publish(channel, messageBytes: envelope.encodedSizeEstimate) { envelope.write(into: &$0) })
            case .channelMessage(let message):
                publishes.append((commands.count, effect))
                commands.append(command(for: message))
            case .join(let connection, let room, let since):
                // Presence first, then the control message: once the edge has subscribed the
                // connection, `members` already lists it.
                commands.append(.sadd(keySpace.roomMembers(room), [connection.rawValue]))
                commands.append(.sadd(keySpace.connectionRooms(connection), [room.rawValue]))
                publishes.append((commands.count, effect))
                commands.append(.publish(keySpace.connection(connection), OutboundEnvelope.join(room, from: since).encode()))
            case .leave(let connection, let room):
                commands.append(.srem(keySpace.roomMembers(room), [connection.rawValue]))
                commands.append(.srem(keySpace.connectionRooms(connection), [room.rawValue]))
                publishes.append((commands.count, effect))
                commands.append(.publish(keySpace.connection(connection), OutboundEnvelope.leave(room).encode()))
            }
        }
        planned.append(Planned(id: id, range: start..<commands.count, publishes: publishes, deadLetterReason: nil))
    }

    /// One command per room or user message: its offset, history and PUBLISH in one script, or a
    /// plain PUBLISH with history off. Either replies with the receiver count.
    private func command(for message: ChannelMessage) -> RedisCommand {
        guard history.isEnabled else { return .publish(message.channel, message.plainEnvelope.encode()) }
        return HistoryScript.append(
            message.history, channel: message.channel, settings: history,
            header: OutboundEnvelope.header(message.type, origin: message.origin, except: message.except), pieces: message.payload.pieces)
    }

    /// Adds the dead-letter copy of an entry; it is acknowledged once the copy is written.
    mutating func addDeadLetter(_ command: RedisCommand, for id: String, reason: String) {
        planned.append(Planned(id: id, range: commands.count..<(commands.count + 1), publishes: [], deadLetterReason: reason))
        commands.append(command)
    }

    /// Adds another plan's entries after this one's (a reclaimed batch handled with a read one).
    mutating func append(_ other: BatchPlan) {
        let offset = commands.count
        commands += other.commands
        planned += other.planned.map { entry in
            Planned(
                id: entry.id, range: (entry.range.lowerBound + offset)..<(entry.range.upperBound + offset),
                publishes: entry.publishes.map { ($0.index + offset, $0.effect) }, deadLetterReason: entry.deadLetterReason)
        }
    }

    /// Reads the pipeline's replies (one per command, in order).
    func evaluate(_ replies: [RedisValue]) -> Outcome {
        var outcome = Outcome()
        for entry in planned {
            if let failure = entry.range.lazy.compactMap({ replies[$0].errorMessage }).first {
                outcome.failed.append((entry.id, failure))
                continue
            }
            if let reason = entry.deadLetterReason {
                outcome.deadLettered.append((entry.id, reason))
            } else {
                outcome.acknowledged.append(entry.id)
            }
            for (index, effect) in entry.publishes where replies[index].int == 0 {
                switch effect {
                case .publish(let channel, _, .connection):
                    if channel.hasPrefix(keySpace.connectionChannelPrefix),
                        let connection = ConnectionID(String(channel.dropFirst(keySpace.connectionChannelPrefix.count)))
                    {
                        outcome.unheard.append((entry.id, connection))
                    } else {
                        outcome.undeliverable += 1
                    }
                case .join(let connection, let room, _):
                    // The connection is gone: do not leave it listed as a member.
                    outcome.undeliverable += 1
                    outcome.cleanup.append(.srem(keySpace.roomMembers(room), [connection.rawValue]))
                    outcome.cleanup.append(.del([keySpace.connectionRooms(connection)]))
                default:
                    break  // a room or user nobody is connected to: nothing was lost
                }
            }
        }
        return outcome
    }
}

extension RedisValue {
    /// The text of an error reply; `nil` for any other reply.
    fileprivate var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
