public import FanoutRedis

/// Where the last `retention` entries up to a given entry number begin (the trimmer asks about
/// how far the groups have read), found without reading them.
///
/// Redis cannot name the ID of the N-th newest entry without returning N entries, payloads and
/// all (10 MB at the default 10,000 entries of 1 KiB). But a trim pass sees pairs of a logical
/// entry number and an ID: the stream's `entries-added` with its last ID, and each group's
/// `entries-read` with its last-delivered-id. Such a mark (n, id) says: entry number n has ID
/// `id`. Once `retention` entries numbered up to the position asked about lie above a mark,
/// everything up to its ID may go.
///
/// The group marks matter during and after a backlog: the stream's own marks all sit at its end,
/// while the group's progress leaves marks all along it. Marks are kept at least
/// `retention / 32` apart (about 34 of them, plus one per spacing of backlog), so the cutoff
/// trails the exact one by at most that spacing or what one pass saw delivered, whichever is
/// more: the stream keeps that much beyond `retention`, never less. (A group counter left behind by entries trimmed
/// before delivery — an error reported on its own — makes its marks keep fewer, by as many.)
/// A worker that just started trims by count once `retention` entries lie above its first mark.
public struct RetentionMarks: Sendable {
    /// One observation: entry number `added` (counted from the stream's first ever) has ID `id`.
    public struct Mark: Sendable, Hashable {
        public var added: Int
        public var id: StreamID

        public init(added: Int, id: StreamID) {
            self.added = added
            self.id = id
        }
    }

    public let retention: Int
    /// Sorted by `added` and by `id` alike.
    public private(set) var marks: [Mark] = []

    public init(retention: Int) {
        self.retention = retention
    }

    /// Records that entry number `added` has ID `lastID`.
    public mutating func record(added: Int, lastID: StreamID) {
        let index = marks.firstIndex { $0.added >= added } ?? marks.count
        let before = index > 0 ? marks[index - 1] : nil
        let after = index < marks.count ? marks[index] : nil
        if before.map({ $0.id >= lastID }) ?? false || after.map({ $0.added == added ? $0.id != lastID : $0.id <= lastID }) ?? false {
            // Numbers and IDs disagree: the stream was deleted and made again. Start over.
            marks = [Mark(added: added, id: lastID)]
            return
        }
        let spacing = max(1, retention / 32)
        if let before, added - before.added < spacing { return }
        if let after, after.added - added < spacing, index < marks.count - 1 || after.added == added { return }
        marks.insert(Mark(added: added, id: lastID), at: index)
    }

    /// Forgets the marks `cutoff(added:)` can no longer return once it is asked about `added` or
    /// later: all but the newest that is `retention` entries back from there. The trimmer asks
    /// about how far the groups have read, which only grows; it must not prune from the stream's
    /// end, or a backlog longer than `retention` would leave no mark behind the read position.
    public mutating func forget(before added: Int) {
        if let oldEnough = marks.lastIndex(where: { $0.added <= added - retention }), oldEnough > 0 {
            marks.removeFirst(oldEnough)
        }
    }

    /// The MINID that keeps at least the last `retention` entries numbered up to `added` (the
    /// stream's end, or how far the groups have read); `nil` while no mark is that far back.
    public func cutoff(added: Int) -> StreamID? {
        marks.last { $0.added <= added - retention }?.id.successor
    }
}
