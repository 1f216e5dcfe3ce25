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
public struct KeySpace: Sendable, Hashable {
    /// The first part of every name.
    public let prefix: String
    /// `FANOUT_STREAM_PARTITIONS`: how many inbound streams there are (1: the single `<prefix>:inbound`).
    public let partitions: Int
    /// The inbound streams, partition 0 first.
    public let inboundStreams: [String]

    /// The consumer group every worker joins.
    public static let workerGroup = "workers"
    /// The most inbound partitions a key space may have.
    public static let maxPartitions = 256

    public init(prefix: String = "fanout", partitions: Int = 1) {
        precondition((1...Self.maxPartitions).contains(partitions), "1...\(Self.maxPartitions) inbound partitions")
        self.prefix = prefix
        self.partitions = partitions
        self.inboundStreams = partitions == 1
            ? ["\(prefix):inbound"] : (0..<partitions).map { "\(prefix):inbound:{\(Self.partitionTag($0, of: partitions))}" }
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

    /// Set: connection IDs currently open on `edge`, so survivors can clean up after it if it dies.
    public func edgeConnections(_ edge: EdgeID) -> String { "\(prefix):edge:\(edge.rawValue):conns" }

    /// Set: connection IDs that joined `room` (presence).
    public func roomMembers(_ name: RoomName) -> String { "\(prefix):presence:room:\(name.rawValue)" }

    /// Set: rooms `connection` joined, so its memberships can be removed when it closes.
    public func connectionRooms(_ id: ConnectionID) -> String { "\(prefix):presence:conn:\(id.rawValue)" }

    /// The prefix of every connection channel, for recognising them in `PUBSUB CHANNELS`.
    public var connectionChannelPrefix: String { "\(prefix):conn:" }
    /// The prefix of every room channel.
    public var roomChannelPrefix: String { "\(prefix):room:" }
    /// The prefix of every user channel.
    public var userChannelPrefix: String { "\(prefix):user:" }
}
