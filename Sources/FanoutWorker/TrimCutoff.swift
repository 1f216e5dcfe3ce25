public import FanoutRedis

/// Where a stream may be trimmed without losing anything a consumer group has not processed:
/// the pure computation behind `StreamTrimmer`, unit-tested without a server.
///
/// Its inputs come from one consistent snapshot (`XINFO STREAM` and `XINFO GROUPS` inside
/// MULTI/EXEC) and from `XPENDING` read *after* it. That order is what makes the cutoff safe
/// against workers reading and acknowledging meanwhile (decision 0020): an entry delivered after
/// the snapshot has an ID above the group's last-delivered-id seen in it, so it is above the
/// cutoff; an entry delivered before the snapshot and still unacknowledged is in the later
/// XPENDING, so the cutoff is at or below it. Entries are only ever appended above every ID
/// seen, so new ones are never below the cutoff either.
public enum TrimCutoff {
    /// What the snapshot says about the stream.
    public struct Stream: Sendable, Hashable {
        public var length: Int
        /// The oldest entry still in the stream (`nil` when it is empty).
        public var firstEntry: StreamID?
        /// The newest ID ever appended (entries above it do not exist yet).
        public var lastGenerated: StreamID
        /// Entries ever appended, trimmed or not (Redis 7's `entries-added`).
        public var entriesAdded: Int?

        public init(length: Int, firstEntry: StreamID?, lastGenerated: StreamID, entriesAdded: Int?) {
            self.length = length
            self.firstEntry = firstEntry
            self.lastGenerated = lastGenerated
            self.entriesAdded = entriesAdded
        }
    }

    /// What the snapshot and XPENDING say about one consumer group.
    public struct Group: Sendable, Hashable {
        public var name: String
        /// Entries above it were never delivered to the group.
        public var lastDelivered: StreamID
        /// The smallest ID delivered and not yet acknowledged (`nil`: nothing pending).
        public var oldestPending: StreamID?
        /// Redis's logical read counter (`entries-read`; `nil` when Redis cannot tell).
        public var entriesRead: Int?

        public init(name: String, lastDelivered: StreamID, oldestPending: StreamID?, entriesRead: Int?) {
            self.name = name
            self.lastDelivered = lastDelivered
            self.oldestPending = oldestPending
            self.entriesRead = entriesRead
        }

        /// The oldest entry this group has not processed: its oldest pending one, or else the
        /// first one after its last-delivered-id.
        public var oldestUnprocessed: StreamID {
            min(oldestPending ?? lastDelivered.successor, lastDelivered.successor)
        }
    }

    /// What to do with a stream.
    public enum Decision: Sendable, Hashable {
        /// Nothing to trim (or nothing known to be safe to trim).
        case keepAll
        /// `XTRIM MINID ~ id`: remove entries below `id`.
        case minID(StreamID)
        /// `XTRIM MAXLEN ~ n`: for a stream no group reads (dead letters), keep the newest `n`.
        case maxLength(Int)
    }

    /// The trim that keeps the union of: every entry from the oldest one any group has not
    /// processed on; the `retention` entries before that (located by `countMark`, see
    /// `RetentionMarks` and `StreamTrimmer`); and, with an age, every entry at or above `ageCutoff`.
    ///
    /// - Parameters:
    ///   - groupRequired: `true` for the inbound stream: without a group nobody has said what is
    ///     processed (the stream was just recreated, the workers' group not yet), so keep all.
    ///   - countMark: the MINID that keeps at least `retention` entries below where the groups have
    ///     read to, or `nil` when not known yet (then only `retention` 0 allows trimming).
    public static func decide(
        stream: Stream, groups: [Group], groupRequired: Bool, retention: Int, countMark: StreamID?, ageCutoff: StreamID? = nil
    ) -> Decision {
        guard stream.length > retention, let first = stream.firstEntry else { return .keepAll }
        guard let unprocessed = groups.map(\.oldestUnprocessed).min() else {
            return groupRequired || ageCutoff != nil ? .keepAll : .maxLength(retention)
        }
        var cutoff = unprocessed
        if retention > 0 {
            guard let countMark else { return .keepAll }
            cutoff = min(cutoff, countMark)
        }
        if let ageCutoff { cutoff = min(cutoff, ageCutoff) }
        return cutoff > first ? .minID(cutoff) : .keepAll
    }

    /// How many entries were removed from the stream before `group` was delivered them, counted
    /// over the group's life — when the snapshot can tell exactly; `nil` when it cannot.
    ///
    /// Redis counts every delivery in `entries-read` and does not notice entries trimmed before
    /// delivery: the group's next read just goes on from the stream's first entry and the counter
    /// stays behind for good (verified on Redis 7.0; it also inflates `lag` by as much). So:
    /// - while the group stands before the stream's first entry (or the stream is empty),
    ///   everything removed beyond what it read was never delivered: `added − length − read`;
    /// - once it has read everything (`lastDelivered == lastGenerated`), `added − read` is
    ///   exactly the count it skipped;
    /// - in between (a backlog inside the stream) it cannot be told; the next pass looks again.
    /// Needs Redis 7 (`entries-added`, `entries-read`).
    public static func lostBeforeDelivery(stream: Stream, group: Group) -> Int? {
        guard let added = stream.entriesAdded, let read = group.entriesRead else { return nil }
        let beforeFirst = stream.firstEntry.map { group.lastDelivered < $0 } ?? true
        if beforeFirst { return max(0, added - stream.length - read) }
        if group.lastDelivered == stream.lastGenerated { return max(0, added - read) }
        return nil
    }
}
