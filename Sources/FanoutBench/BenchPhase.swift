import Foundation
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
    /// Processes whose CPU time is read at the window's start and end.
    let watched: [String: Int32]
    private let cpuAtStart = Mutex<[String: Double]>([:])
    private let cpuAtEnd = Mutex<[String: Double]>([:])
    /// This process's own CPU time at the window's start and end: the load generator shares the
    /// machine with what it measures, so its cost belongs in the accounting (`clientCPUSecondsInWindow`).
    private let ownCPUAtStart = Mutex<Double?>(nil)
    private let ownCPUAtEnd = Mutex<Double?>(nil)

    init(watching watched: [String: Int32] = [:]) {
        self.watched = watched
    }

    /// CPU seconds each watched process used inside the measurement window.
    var cpuSecondsInWindow: [String: Double] {
        let (begin, end) = (cpuAtStart.withLock { $0 }, cpuAtEnd.withLock { $0 })
        return end.reduce(into: [:]) { result, entry in
            if let first = begin[entry.key] { result[entry.key] = entry.value - first }
        }
    }

    /// CPU seconds this process (the load generator) used inside the measurement window.
    var clientCPUSecondsInWindow: Double? {
        guard let begin = ownCPUAtStart.withLock({ $0 }), let end = ownCPUAtEnd.withLock({ $0 }) else { return nil }
        return end - begin
    }

    private func sampleCPU(into target: borrowing Mutex<[String: Double]>, own: borrowing Mutex<Double?>) {
        let samples = watched.compactMapValues(ProcessResources.cpuSeconds(pid:))
        target.withLock { $0 = samples }
        let mine = ProcessResources.cpuSeconds(pid: getpid())
        own.withLock { $0 = mine }
    }

    var current: Int { value.load(ordering: .relaxed) }
    /// Start of the measurement window (monotonic ns); `UInt64.max` before it starts.
    var windowStart: UInt64 { start.load(ordering: .relaxed) }
    /// End of the measurement window; `UInt64.max` before it ends.
    var windowEnd: UInt64 { end.load(ordering: .relaxed) }

    /// `true` when an intended send time falls inside the measurement window.
    func inWindow(_ time: UInt64) -> Bool { time >= windowStart && time < windowEnd }

    /// Starts the window now; returns its start.
    func startMeasuring() -> UInt64 {
        sampleCPU(into: cpuAtStart, own: ownCPUAtStart)
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
        sampleCPU(into: cpuAtEnd, own: ownCPUAtEnd)
        return now
    }
}

/// The monotonic clock in nanoseconds, the same one NIO schedules with.
@inline(__always) func monotonicNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
