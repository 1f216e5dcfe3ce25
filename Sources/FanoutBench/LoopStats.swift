import Histogram
import NIOCore

/// What the connections of one event loop counted. Each loop has its own, touched only on that
/// loop (so no lock and no atomic on the per-message path); the driver merges them at the end by
/// submitting a read to each loop.
final class LoopStats: @unchecked Sendable {
    // @unchecked: every field below is read and written only on `eventLoop`.
    let eventLoop: any EventLoop
    /// The latency range recorded: 1 µs … 60 s, in nanoseconds.
    static let latencyRange: ClosedRange<UInt64> = 1_000...60_000_000_000

    /// An empty latency histogram over ``latencyRange`` at 3 significant digits.
    static func emptyLatency() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: latencyRange.lowerBound, highestTrackableValue: latencyRange.upperBound,
            numberOfSignificantValueDigits: .three)
    }

    /// Latency in nanoseconds.
    var latency = LoopStats.emptyLatency()
    /// Messages (or, in `fanout` mode, deliveries) sent / expected.
    var sent = 0
    /// Replies or deliveries received, at any time.
    var received = 0
    /// Replies or deliveries received for messages sent inside the measurement window.
    var measured = 0
    /// Replies whose bytes were not the ones sent, out of order, or duplicated.
    var mismatches = 0
    /// Connections that failed, closed unexpectedly, or got an error frame.
    var errors = 0
    /// Connections that finished their setup (fanout: joined; conns: confirmed).
    var ready = 0

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Records a latency in nanoseconds (clamped into the histogram's range).
    func record(nanoseconds: UInt64) {
        _ = latency.record(min(max(nanoseconds, Self.latencyRange.lowerBound), Self.latencyRange.upperBound))
    }

    /// A copy of the counts, taken on the loop.
    func snapshot() -> EventLoopFuture<Snapshot> {
        eventLoop.submit {
            Snapshot(latency: self.latency, sent: self.sent, received: self.received, measured: self.measured, mismatches: self.mismatches, errors: self.errors, ready: self.ready)
        }
    }

    /// Sendable copy of one loop's counts; `+` merges two.
    struct Snapshot: Sendable {
        var latency: Histogram<UInt64>
        var sent: Int
        var received: Int
        var measured: Int
        var mismatches: Int
        var errors: Int
        var ready: Int

        static func merged(_ snapshots: [Snapshot]) -> Snapshot {
            var total = Snapshot(
                latency: LoopStats.emptyLatency(),
                sent: 0, received: 0, measured: 0, mismatches: 0, errors: 0, ready: 0)
            for snapshot in snapshots {
                total.latency.add(snapshot.latency)
                total.sent += snapshot.sent
                total.received += snapshot.received
                total.measured += snapshot.measured
                total.mismatches += snapshot.mismatches
                total.errors += snapshot.errors
                total.ready += snapshot.ready
            }
            return total
        }
    }
}
