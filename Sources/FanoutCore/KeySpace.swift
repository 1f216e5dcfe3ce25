/// Every Redis key and channel name Fanout uses, in one place.
///
/// All names start with `prefix` (`fanout` by default; tests use a unique prefix each), `:` separates
/// the parts, and every variable part is a validated identifier, so names never contain `:` or glob
/// characters from user input. The README's key table mirrors this type.
public struct KeySpace: Sendable, Hashable {
    /// The first part of every name.
    public let prefix: String

    /// The consumer group every worker joins.
    public static let workerGroup = "workers"

    public init(prefix: String = "fanout") {
        self.prefix = prefix
    }

    /// Stream: edges XADD every inbound frame here; workers XREADGROUP it as group `workers`.
    public var inbound: String { "\(prefix):inbound" }

    /// Stream: entries that failed `maxDeliveries` times or could not be decoded, with the reason.
    public var deadLetters: String { "\(prefix):dead" }

    /// Channel: results for one connection; only its edge subscribes.
    public func connection(_ id: ConnectionID) -> String { "\(prefix):conn:\(id.rawValue)" }

    /// Channel: broadcasts to a room; every edge with a local member subscribes.
    public func room(_ name: RoomName) -> String { "\(prefix):room:\(name.rawValue)" }

    /// Channel: messages for every connection of one user; every edge with such a connection subscribes.
    public func user(_ id: UserID) -> String { "\(prefix):user:\(id.rawValue)" }

    /// Sorted set: edge ID → last heartbeat (milliseconds since 1970). Survivors clean up after edges that stop beating.
    public var edges: String { "\(prefix):edges" }

    /// Hash: worker consumer name → the address its `/metrics` listens on (`host:port`). Written by
    /// each worker with an HTTP server, removed when it stops gracefully; `fanout stats` shows it.
    public var workerMetrics: String { "\(prefix):worker-metrics" }

    /// String: the consumer name of the worker that trims the streams during the current trim
    /// interval (`SET NX PX`; it expires by itself). It saves work, not correctness: every trim
    /// is computed to keep whatever is unprocessed, so two trimmers at once are harmless.
    public var trimLease: String { "\(prefix):trim-lease" }

    /// Hash: consumer group → how many of its entries were found trimmed before delivery (by the
    /// `MAXLEN` emergency cap or by hand). Workers report only increases of it, once.
    public var trimLost: String { "\(prefix):trim-lost" }

    /// Set: connection IDs currently open on `edge`, so survivors can clean up after it if it dies.
    public func edgeConnections(_ edge: EdgeID) -> String { "\(prefix):edge:\(edge.rawValue):conns" }

    /// Set: connection IDs that joined `room` (presence).
    public func roomMembers(_ name: RoomName) -> String { "\(prefix):presence:room:\(name.rawValue)" }

    /// Set: rooms `connection` joined, so its memberships can be removed when it closes.
    public func connectionRooms(_ id: ConnectionID) -> String { "\(prefix):presence:conn:\(id.rawValue)" }

    /// Stream: the last `FANOUT_HISTORY_SIZE` messages of a room, each entry's ID `<offset>-0` and
    /// its one field `e` the envelope as published (offset form). Expires `FANOUT_HISTORY_TTL_MS`
    /// after the room's last message.
    public func roomHistory(_ name: RoomName) -> String { "\(prefix):history:room:\(name.rawValue)" }

    /// Hash: a room's history `epoch` and last `offset`; kept `FANOUT_HISTORY_META_TTL_MS` after
    /// its last message, so offsets continue after the history itself expired.
    public func roomOffsets(_ name: RoomName) -> String { "\(prefix):offsets:room:\(name.rawValue)" }

    /// Stream: a user channel's history, as `roomHistory`.
    public func userHistory(_ id: UserID) -> String { "\(prefix):history:user:\(id.rawValue)" }

    /// Hash: a user channel's epoch and last offset, as `roomOffsets`.
    public func userOffsets(_ id: UserID) -> String { "\(prefix):offsets:user:\(id.rawValue)" }

    /// The history stream and offsets hash of a room or user channel, from the channel's name;
    /// `nil` for any other channel.
    public func historyKeys(ofChannel channel: String) -> HistoryKeys? {
        if channel.hasPrefix(roomChannelPrefix) {
            let name = channel.dropFirst(roomChannelPrefix.utf8.count)
            return HistoryKeys(stream: "\(prefix):history:room:\(name)", offsets: "\(prefix):offsets:room:\(name)")
        }
        if channel.hasPrefix(userChannelPrefix) {
            let name = channel.dropFirst(userChannelPrefix.utf8.count)
            return HistoryKeys(stream: "\(prefix):history:user:\(name)", offsets: "\(prefix):offsets:user:\(name)")
        }
        return nil
    }

    /// The prefix of every connection channel, for recognising them in `PUBSUB CHANNELS`.
    public var connectionChannelPrefix: String { "\(prefix):conn:" }
    /// The prefix of every room channel.
    public var roomChannelPrefix: String { "\(prefix):room:" }
    /// The prefix of every user channel.
    public var userChannelPrefix: String { "\(prefix):user:" }
}

/// The two keys of one room's or user's history.
public struct HistoryKeys: Sendable, Hashable {
    /// The stream of kept messages (`<prefix>:history:…`).
    public let stream: String
    /// The hash with the epoch and last offset (`<prefix>:offsets:…`).
    public let offsets: String

    public init(stream: String, offsets: String) {
        self.stream = stream
        self.offsets = offsets
    }
}
