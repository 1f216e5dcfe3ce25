import Synchronization

/// Counts what a worker did, for logs, tests and metrics. Relaxed atomics: totals, not a timeline.
public final class WorkerCounters: Sendable {
    let handledCount = Atomic<Int>(0)
    let failedCount = Atomic<Int>(0)
    let reclaimedCount = Atomic<Int>(0)
    let deadLetteredCount = Atomic<Int>(0)
    let undeliverableCount = Atomic<Int>(0)

    public init() {}

    /// Entries whose handler succeeded and whose effects were published.
    public var handled: Int { handledCount.load(ordering: .relaxed) }
    /// Handler invocations that threw.
    public var failed: Int { failedCount.load(ordering: .relaxed) }
    /// Entries taken over from idle consumers.
    public var reclaimed: Int { reclaimedCount.load(ordering: .relaxed) }
    /// Entries moved to the dead-letter stream.
    public var deadLettered: Int { deadLetteredCount.load(ordering: .relaxed) }
    /// Results published to a connection channel nobody listened on.
    public var undeliverable: Int { undeliverableCount.load(ordering: .relaxed) }
}

extension Atomic where Value == Int {
    func add(_ amount: Int) { _ = wrappingAdd(amount, ordering: .relaxed) }
}
