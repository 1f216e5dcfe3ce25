import FanoutCore
import Metrics
import Synchronization

/// What a worker did: totals for logs and tests, and the same events as swift-metrics (exported at
/// `/metrics` when the process bootstrapped Prometheus). Relaxed atomics: totals, not a timeline.
public final class WorkerCounters: Sendable {
    private let handledCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let reclaimedCount = Atomic<Int>(0)
    private let deadLetteredCount = Atomic<Int>(0)
    private let undeliverableCount = Atomic<Int>(0)
    private let trimmedCount = Atomic<Int>(0)
    private let trimmedUnprocessedCount = Atomic<Int>(0)

    private let handledMetric = Counter(label: MetricNames.workerHandled)
    private let failedMetric = Counter(label: MetricNames.workerFailed)
    private let reclaimedMetric = Counter(label: MetricNames.workerReclaimed)
    private let deadLetteredMetric = Counter(label: MetricNames.workerDeadLettered)
    private let undeliverableMetric = Counter(label: MetricNames.workerUndeliverable)
    private let trimmedInboundMetric = Counter(label: MetricNames.streamTrimmed, dimensions: [("stream", "inbound")])
    private let trimmedDeadMetric = Counter(label: MetricNames.streamTrimmed, dimensions: [("stream", "dead")])
    private let trimmedUnprocessedMetric = Counter(label: MetricNames.streamTrimmedUnprocessed)
    /// One handler call in `handlerSampling` is timed into this histogram.
    private let handlerDuration = Timer(label: MetricNames.workerHandlerDuration)
    static let handlerSampling = 16
    private let untilHandlerSample = Atomic<Int>(0)

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

    /// Inbound entries this worker's trimmer removed (all processed, by construction).
    public var trimmed: Int { trimmedCount.load(ordering: .relaxed) }
    /// Entries this worker found removed before they were processed: must stay 0.
    public var trimmedUnprocessed: Int { trimmedUnprocessedCount.load(ordering: .relaxed) }

    func trimmed(_ count: Int, deadLetters: Bool) {
        guard count > 0 else { return }
        if deadLetters {
            trimmedDeadMetric.increment(by: count)
        } else {
            trimmedCount.wrappingAdd(count, ordering: .relaxed)
            trimmedInboundMetric.increment(by: count)
        }
    }

    func trimmedUnprocessed(_ count: Int) {
        guard count > 0 else { return }
        trimmedUnprocessedCount.wrappingAdd(count, ordering: .relaxed)
        trimmedUnprocessedMetric.increment(by: count)
    }

    func handled(_ count: Int) {
        guard count > 0 else { return }
        handledCount.wrappingAdd(count, ordering: .relaxed)
        handledMetric.increment(by: count)
    }

    func failedOne() {
        failedCount.wrappingAdd(1, ordering: .relaxed)
        failedMetric.increment()
    }

    func reclaimed(_ count: Int) {
        reclaimedCount.wrappingAdd(count, ordering: .relaxed)
        reclaimedMetric.increment(by: count)
    }

    func deadLettered(_ count: Int) {
        guard count > 0 else { return }
        deadLetteredCount.wrappingAdd(count, ordering: .relaxed)
        deadLetteredMetric.increment(by: count)
    }

    func undeliverable(_ count: Int) {
        guard count > 0 else { return }
        undeliverableCount.wrappingAdd(count, ordering: .relaxed)
        undeliverableMetric.increment(by: count)
    }

    /// Records one handler duration in `handlerSampling` (a histogram observation takes a lock).
    func sampleHandlerDuration(_ elapsed: Duration) {
        guard untilHandlerSample.wrappingAdd(1, ordering: .relaxed).newValue % Self.handlerSampling == 1 else { return }
        handlerDuration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
