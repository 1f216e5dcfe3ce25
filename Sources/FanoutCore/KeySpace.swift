import FanoutRedis

/// Every Redis key and channel name Fanout uses, in one place.
///
/// All names start with `prefix` (`fanout` by default; tests use a unique prefix each), `:` separates
/// the parts, and every variable part is a validated identifier, so names never contain `:` or glob
/// characters from user input. The README's key table mirrors this type.
///
/// Redis Cluster (decision 0041): every command Fanout sends names one key, so each touches one
/// slot wherever the keys land. The inbound stream is the one name whose slot is chosen: with
/// `FANOUT_STREAM_PARTITIONS` > 1 it is split into streams whose hash tags put partition `i` in
/// the middle of the `i`-th of `partitions` equal slot ranges, so the partitions spread evenly
/// over the shards of a cluster whose slots are split evenly (what `redis-cli --cluster create` does).
///
/// With `cluster` set (a `redis-cluster://` URL) the names whose keys a script or transaction
/// uses together carry hash tags, so that each such group lands on one slot: room and user
/// channels with their history and offsets (`<prefix>:room:{<name>}`, `<prefix>:history:room:{<name>}`
/// …, the history script publishes on the channel it keeps), and each inbound partition with its
/// trim lease and trim report (the dead-letter stream goes with partition 0).
public struct KeySpace: Sendable, Hashable {
    /// The first part of every name.
    public let prefix: String
    /// `FANOUT_STREAM_PARTITIONS`: how many inbound streams there are (1: the single `<prefix>:inbound`).
    public let partitions: Int
    /// The inbound streams, partition 0 first.
    public let inboundStreams: [String]
    /// Names for a Redis Cluster: hash tags keep what is used together on one slot.
    public let cluster: Bool
    /// Per partition: the `:{tag}` ending its stream, trim lease and trim report ("" for today's single stream).
    private let partitionSuffixes: [String]

    /// The consumer group every worker joins.
    public static let workerGroup = "workers"
    /// The most inbound partitions a key space may have.
    public static let maxPartitions = 256

    public init(prefix: String = "fanout", partitions: Int = 1, cluster: Bool = false) {
        precondition((1...Self.maxPartitions).contains(partitions), "1...\(Self.maxPartitions) inbound partitions")
        self.prefix = prefix
        self.partitions = partitions
        self.cluster = cluster
        let suffixes = partitions == 1 && !cluster ? [""] : (0..<partitions).map { ":{\(Self.partitionTag($0, of: partitions))}" }
        self.partitionSuffixes = suffixes
        self.inboundStreams = suffixes.map { "\(prefix):inbound\($0)" }
    }

    /// Stream: with one partition (the default) edges XADD every inbound frame here and workers
    /// XREADGROUP it as group `workers`. With several, the base of their names: use `inboundStreams`.
    public var inbound: String { "\(prefix):inbound" }

    /// The inbound stream a connection's entries go to: one per connection, so its entries keep their
    /// order in the stream. Chosen by the connection ID's CRC16, the same on every edge.
    public func inboundStream(for connection: ConnectionID) -> String {
        inboundStreams[inboundPartition(of: connection)]
    }

    /// The index of `inboundStream(for:)` in `inboundStreams`.
    public func inboundPartition(of connection: ConnectionID) -> Int {
        partitions == 1 ? 0 : HashSlot(key: connection.rawValue).value % partitions
    }

    /// The hash tag of partition `index` of `count`: `p<index>-<k>` with the smallest `k` whose slot
    /// lies within a quarter range of the middle of the `index`-th of `count` equal slot ranges.
    static func partitionTag(_ index: Int, of count: Int) -> String {
        let width = Double(HashSlot.count) / Double(count)
        let middle = width * (Double(index) + 0.5)
        let window = max(0.5, width / 4)
        var k = 0
        while true {
            let tag = "p\(index)-\(k)"
            if abs(Double(HashSlot(key: tag).value) + 0.5 - middle) <= window { return tag }
            k += 1
        }
    }

    /// Stream: entries that failed `maxDeliveries` times or could not be decoded, with the reason.
    /// (In a cluster, `<prefix>:dead:{<partition 0's tag>}`: trimmed in partition 0's transaction.)
    public var deadLetters: String { "\(prefix):dead" + (cluster ? partitionSuffixes[0] : "") }

    /// Channel: results for one connection; only its edge subscribes.
    public func connection(_ id: ConnectionID) -> String { "\(prefix):conn:\(id.rawValue)" }

    /// Channel: broadcasts to a room; every edge with a local member subscribes.
    public func room(_ name: RoomName) -> String { "\(prefix):room:\(tagged(name.rawValue))" }

    /// Channel: messages for every connection of one user; every edge with such a connection subscribes.
    public func user(_ id: UserID) -> String { "\(prefix):user:\(tagged(id.rawValue))" }

    /// `{name}` in a cluster (a hash tag: the channel, history and offsets of one room share a slot), else `name`.
    private func tagged(_ name: String) -> String { cluster ? "{\(name)}" : name }

    /// Sorted set: edge ID → last heartbeat (milliseconds since 1970). Survivors clean up after edges that stop beating.
    public var edges: String { "\(prefix):edges" }

    /// Hash: worker consumer name → the address its `/metrics` listens on (`host:port`). Written by
    /// each worker with an HTTP server, removed when it stops gracefully; `fanout stats` shows it.
    public var workerMetrics: String { "\(prefix):worker-metrics" }

    /// String: the consumer name of the worker that trims the streams during the current trim
    /// interval (`SET NX PX`; it expires by itself). It saves work, not correctness: every trim
    /// is computed to keep whatever is unprocessed, so two trimmers at once are harmless.
    public var trimLease: String { trimLease(partition: 0) }

    /// The trim lease of inbound partition `index` (one slot with its stream).
    public func trimLease(partition index: Int) -> String { "\(prefix):trim-lease\(partitionSuffixes[index])" }

    /// Hash: consumer group → how many of its entries were found trimmed before delivery (by the
    /// `MAXLEN` emergency cap or by hand). Workers report only increases of it, once.
    public var trimLost: String { trimLost(partition: 0) }

    /// The trim report of inbound partition `index` (one slot with its stream).
    public func trimLost(partition index: Int) -> String { "\(prefix):trim-lost\(partitionSuffixes[index])" }

    /// Set: connection IDs currently open on `edge`, so survivors can clean up after it if it dies.
    public func edgeConnections(_ edge: EdgeID) -> String { "\(prefix):edge:\(edge.rawValue):conns" }

    /// Set: connection IDs that joined `room` (presence).
    public func roomMembers(_ name: RoomName) -> String { "\(prefix):presence:room:\(name.rawValue)" }

    /// Set: rooms `connection` joined, so its memberships can be removed when it closes.
    public func connectionRooms(_ id: ConnectionID) -> String { "\(prefix):presence:conn:\(id.rawValue)" }

    /// Stream: the last `FANOUT_HISTORY_SIZE` messages of a room, each entry's ID `<offset>-0` and
    /// its one field `e` the envelope as published (offset form). Expires `FANOUT_HISTORY_TTL_MS`
    /// after the room's last message.
    public func roomHistory(_ name: RoomName) -> String { "\(prefix):history:room:\(tagged(name.rawValue))" }

    /// Hash: a room's history `epoch` and last `offset`; kept `FANOUT_HISTORY_META_TTL_MS` after
    /// its last message, so offsets continue after the history itself expired.
    public func roomOffsets(_ name: RoomName) -> String { "\(prefix):offsets:room:\(tagged(name.rawValue))" }

    /// Stream: a user channel's history, as `roomHistory`.
    public func userHistory(_ id: UserID) -> String { "\(prefix):history:user:\(tagged(id.rawValue))" }

    /// Hash: a user channel's epoch and last offset, as `roomOffsets`.
    public func userOffsets(_ id: UserID) -> String { "\(prefix):offsets:user:\(tagged(id.rawValue))" }

    /// The history stream and offsets hash of a room or user channel, from the channel's name;
    /// `nil` for any other channel.
    public func historyKeys(ofChannel channel: String) -> HistoryKeys? {
        if channel.hasPrefix(roomChannelPrefix) {
            let name = channel.dropFirst(roomChannelPrefix.utf8.count)
            return HistoryKeys(stream: "\(prefix):history:room:\(name)", offsets: "\(prefix):offsets:room:\(name)", sharded: cluster)
        }
        if channel.hasPrefix(userChannelPrefix) {
            let name = channel.dropFirst(userChannelPrefix.utf8.count)
            return HistoryKeys(stream: "\(prefix):history:user:\(name)", offsets: "\(prefix):offsets:user:\(name)", sharded: cluster)
        }
        return nil
    }

    /// The history keys of a room.
    public func roomHistoryKeys(_ name: RoomName) -> HistoryKeys {
        HistoryKeys(stream: roomHistory(name), offsets: roomOffsets(name), sharded: cluster)
    }

    /// The history keys of a user channel.
    public func userHistoryKeys(_ id: UserID) -> HistoryKeys {
        HistoryKeys(stream: userHistory(id), offsets: userOffsets(id), sharded: cluster)
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
    /// In a cluster the script publishes with `SPUBLISH` (the keys and the channel share a slot).
    public let sharded: Bool

    public init(stream: String, offsets: String, sharded: Bool = false) {
        self.stream = stream
        self.offsets = offsets
        self.sharded = sharded
    }
}
