import FanoutCore
import Synchronization

/// Bounds how many entries a worker holds at once. The reader asks for as many entries as there
/// are free slots, so Redis — not this process — holds whatever the worker cannot take yet.
final class InFlightLimiter: Sendable {
    private let limit: Int
    private let inFlightCount = Atomic<Int>(0)
    private let changed = AsyncSignal()

    init(limit: Int) { self.limit = limit }

    /// Free slots right now.
    var available: Int { limit - inFlight }

    /// Entries being handled right now.
    var inFlight: Int { inFlightCount.load(ordering: .acquiring) }

    func acquire(_ count: Int) { inFlightCount.wrappingAdd(count, ordering: .releasing) }

    func release() {
        inFlightCount.wrappingSubtract(1, ordering: .releasing)
        changed.signal()
    }

    /// Returns once at least one slot is free (or the task is cancelled).
    func waitForSlot() async {
        await changed.wait { self.inFlight < self.limit }
    }

    /// Returns once nothing is in flight (or the task is cancelled): graceful shutdown waits for this.
    func waitUntilIdle() async {
        await changed.wait { self.inFlight == 0 }
    }
}
