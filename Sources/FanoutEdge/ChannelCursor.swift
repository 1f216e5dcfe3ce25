import FanoutCore

/// The last room (or user) message an event loop delivered, and what to do with the next one: a
/// value state machine, so the rules of gap-free delivery are tested without I/O
/// (`ChannelCursorTests`).
///
/// Offsets are consecutive per room, so the loop knows exactly when it missed something: a live
/// message more than one past the last delivered one is a gap, filled from history before anything
/// later is delivered (`SharedChannel`); one at or below it was already delivered (it was in a
/// history page and arrived live too). A message of another epoch means Redis lost the history.
struct ChannelCursor: Equatable {
    /// What to do with a message.
    enum Verdict: Equatable {
        /// Deliver it now; it is the new position.
        case deliver
        /// Already delivered: drop it.
        case duplicate
        /// A history read is in flight: keep it until the read has been delivered.
        case hold
        /// Messages after `after` are missing: read them from history first (keep this one).
        case gap(after: Int64)
        /// Another epoch: the history this loop followed is gone.
        case epochChanged
    }

    /// The last delivered message's position; `nil` until the first one is known.
    private(set) var position: StreamPosition?
    /// `true` while a history read is in flight: live messages wait behind it.
    private(set) var isFilling = false

    init(position: StreamPosition? = nil) {
        self.position = position
    }

    /// A message that arrived live.
    mutating func live(_ message: StreamPosition) -> Verdict {
        if isFilling { return .hold }
        let verdict = advance(message)
        if case .gap = verdict { isFilling = true }
        return verdict
    }

    /// A message read from history while filling: a gap here means history no longer holds it.
    mutating func fromHistory(_ message: StreamPosition) -> Verdict {
        advance(message)
    }

    /// A history read starts (a sync after a reconnect, or at a new subscription).
    mutating func startFill() { isFilling = true }

    /// The history read was delivered: live messages flow again.
    mutating func endFill() { isFilling = false }

    /// Starts over at `position` (a new subscription, or after the history was lost).
    mutating func reset(to position: StreamPosition?) {
        self.position = position
        isFilling = false
    }

    private mutating func advance(_ message: StreamPosition) -> Verdict {
        guard let current = position else {
            position = message
            return .deliver
        }
        if message.epoch != current.epoch { return .epochChanged }
        if message.offset <= current.offset { return .duplicate }
        if message.offset == current.offset + 1 {
            position = message
            return .deliver
        }
        return .gap(after: current.offset)
    }
}
