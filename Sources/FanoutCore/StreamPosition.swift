/// Where a message stands in a room's (or user's) history: the history's epoch and the message's
/// offset in it.
///
/// Offsets are consecutive per room, from 1; the room's offset is that of its last message (0
/// before the first). The epoch names one unbroken run of offsets: Redis picks a new one (its
/// clock in microseconds) whenever it has no record of the room — first use, or after it lost
/// the data — so an offset is only meaningful together with its epoch (decision 0030).
public struct StreamPosition: Sendable, Hashable, CustomStringConvertible {
    /// The history's epoch: a positive integer of at most 18 digits, chosen by Redis.
    public var epoch: Int64
    /// The offset: the last message's, or 0 before the first.
    public var offset: Int64

    public init(epoch: Int64, offset: Int64) {
        self.epoch = epoch
        self.offset = offset
    }

    public var description: String { "\(epoch)/\(offset)" }
}

/// History settings shared by the roles: how much of each room's and user's history Redis keeps.
public struct HistorySettings: Sendable, Hashable {
    /// `FANOUT_HISTORY_SIZE` — messages kept per room or user (default 100); 0 turns history and
    /// offsets off, and every message is one plain PUBLISH as before.
    public var size: Int
    /// `FANOUT_HISTORY_TTL_MS` — a history expires this long after its last message (default 300000).
    public var ttl: Duration
    /// `FANOUT_HISTORY_META_TTL_MS` — how long a room's epoch and offset outlive its last message
    /// (default 30 days): while they do, offsets go on where they left off, so a client that saw
    /// everything still recovers after its history expired (decision 0030).
    public var metaTTL: Duration

    public init(size: Int = 100, ttl: Duration = .milliseconds(300_000), metaTTL: Duration = .seconds(30 * 86_400)) {
        self.size = size
        self.ttl = ttl
        self.metaTTL = metaTTL
    }

    /// History off: no offsets, no Redis writes beyond the PUBLISH.
    public static let off = HistorySettings(size: 0)

    /// `true` when messages get offsets and are kept.
    public var isEnabled: Bool { size > 0 }

    /// Reads the three keys.
    public init(reader: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        size = try reader.int("FANOUT_HISTORY_SIZE", default: size, range: 0...1_000_000)
        ttl = try reader.milliseconds("FANOUT_HISTORY_TTL_MS", default: ttl)
        // Up to a year: `milliseconds` stops at one day, which is shorter than the default.
        if reader.string("FANOUT_HISTORY_META_TTL_MS") != nil {
            metaTTL = .milliseconds(try reader.int("FANOUT_HISTORY_META_TTL_MS", default: 0, range: 1...31_536_000_000))
        }
        if metaTTL < ttl { metaTTL = ttl }
    }
}
