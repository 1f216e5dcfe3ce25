import NIOCore
import Synchronization

/// Warm-up → measuring → draining, read by every loop on each message with one relaxed atomic load.
final class BenchPhase: Sendable {
    static let warmup = 0
    static let measuring = 1
    static let draining = 2

    private let value = Atomic<Int>(BenchPhase.warmup)
    private let start = Atomic<UInt64>(UInt64.max)
    private let end = Atomic<UInt64>(UInt64.max)

    var current: Int { value.load(ordering: .relaxed) }
    /// Start of the measurement window (monotonic ns); `UInt64.max` before it starts.
    var windowStart: UInt64 { start.load(ordering: .relaxed) }
    /// End of the measurement window; `UInt64.max` before it ends.
    var windowEnd: UInt64 { end.load(ordering: .relaxed) }

    /// `true` when an intended send time falls inside the measurement window.
    func inWindow(_ time: UInt64) -> Bool { time >= windowStart && time < windowEnd }

    /// Starts the window now; returns its start.
    func startMeasuring() -> UInt64 {
        let now = NIODeadline.now().uptimeNanoseconds
        start.store(now, ordering: .relaxed)
        value.store(Self.measuring, ordering: .releasing)
        return now
    }

    /// Ends the window now (no new sends); returns its end.
    func startDraining() -> UInt64 {
        let now = NIODeadline.now().uptimeNanoseconds
        end.store(now, ordering: .relaxed)
        value.store(Self.draining, ordering: .releasing)
        return now
    }
}

/// The monotonic clock in nanoseconds, the same one NIO schedules with.
@inline(__always) func monotonicNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
