/// A stream entry ID, `<milliseconds>-<sequence>`, as a comparable value.
///
/// IDs are kept as strings everywhere else (they are opaque to handlers); the trimmer needs to
/// compare them and to name "the next possible ID" (`successor`) for `XTRIM … MINID`, which keeps
/// every entry whose ID is at least the one given.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    /// The smallest ID, `0-0`.
    public static let zero = StreamID(milliseconds: 0, sequence: 0)

    public init(milliseconds: UInt64, sequence: UInt64 = 0) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `ms-seq` (or a bare `ms`, which Redis reads as `ms-0`); `nil` for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let milliseconds = parts.first.flatMap({ UInt64($0) }) else { return nil }
        if parts.count == 1 {
            self.init(milliseconds: milliseconds)
            return
        }
        guard let sequence = UInt64(parts[1]) else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    /// The smallest ID greater than this one: `MINID` with it keeps everything after `self`.
    public var successor: StreamID {
        if sequence < UInt64.max { return StreamID(milliseconds: milliseconds, sequence: sequence + 1) }
        return StreamID(milliseconds: milliseconds &+ 1, sequence: 0)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
