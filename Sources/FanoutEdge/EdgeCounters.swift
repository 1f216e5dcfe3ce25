import FanoutCore
import Metrics
import Synchronization

/// What an edge did: totals for logs and tests, and the same events as swift-metrics (exported at
/// `/metrics` when the process bootstrapped Prometheus). Relaxed atomics: totals, not a timeline.
public final class EdgeCounters: Sendable {
    private let messagesInCount = Atomic<Int>(0)
    private let messagesOutCount = Atomic<Int>(0)
    private let slowConsumerCount = Atomic<Int>(0)
    private let refusalCount = Atomic<Int>(0)
    private let badEnvelopeCount = Atomic<Int>(0)
    private let fillTotal = Atomic<Int>(0)
    private let lossTotal = Atomic<Int>(0)
    private let historyFills = Counter(label: MetricNames.edgeHistoryFills)
    private let historyLosses = Counter(label: MetricNames.edgeHistoryLosses)

    private let connections = Gauge(label: MetricNames.edgeConnections)
    private let textIn = Counter(label: MetricNames.edgeMessagesIn, dimensions: [("type", "text")])
    private let binaryIn = Counter(label: MetricNames.edgeMessagesIn, dimensions: [("type", "binary")])
    private let textOut = Counter(label: MetricNames.edgeMessagesOut, dimensions: [("type", "text")])
    private let binaryOut = Counter(label: MetricNames.edgeMessagesOut, dimensions: [("type", "binary")])
    private let bytesIn = Counter(label: MetricNames.edgeBytesIn)
    private let bytesOut = Counter(label: MetricNames.edgeBytesOut)
    private let slowConsumerCloses = Counter(label: MetricNames.edgeSlowConsumerCloses)
    /// Enqueue to reply of one XADD in `EdgeLoop.appendSampling`.
    let appendDuration = Timer(label: MetricNames.edgeAppendDuration)
    /// Edge received → result written, for one delivered frame in `TrafficTally.latencySampling`.
    let endToEndLatency = Timer(label: MetricNames.edgeEndToEndLatency)
    let streamLength = Gauge(label: MetricNames.streamLength)
    let streamLag = Gauge(label: MetricNames.streamLag)
    let streamPending = Gauge(label: MetricNames.streamPending)
    let streamBacklog = Gauge(label: MetricNames.streamBacklog)
    let redisUsedMemory = Gauge(label: MetricNames.redisUsedMemory)
    let trimRisks = Counter(label: MetricNames.streamTrimRisks)

    public init() {}

    /// Client frames the edge took for appending to the inbound stream (published once a second).
    public var messagesIn: Int { messagesInCount.load(ordering: .relaxed) }
    /// Frames written to clients (published once a second).
    public var messagesOut: Int { messagesOutCount.load(ordering: .relaxed) }
    /// Connections closed with 4008 because their outbound buffer filled up.
    public var slowConsumerClosed: Int { slowConsumerCount.load(ordering: .relaxed) }
    /// Messages or connections refused with an explicit answer.
    public var refused: Int { refusalCount.load(ordering: .relaxed) }

    /// Adds the traffic one event loop counted since its last report (`TrafficTally`).
    func add(textIn: Int, binaryIn: Int, bytesIn: Int, textOut: Int, binaryOut: Int, bytesOut: Int) {
        if textIn + binaryIn > 0 {
            messagesInCount.wrappingAdd(textIn + binaryIn, ordering: .relaxed)
            self.textIn.increment(by: textIn)
            self.binaryIn.increment(by: binaryIn)
            self.bytesIn.increment(by: bytesIn)
        }
        if textOut + binaryOut > 0 {
            messagesOutCount.wrappingAdd(textOut + binaryOut, ordering: .relaxed)
            self.textOut.increment(by: textOut)
            self.binaryOut.increment(by: binaryOut)
            self.bytesOut.increment(by: bytesOut)
        }
    }

    /// `reason`: `overloaded`, `unavailable`, `capacity`, `draining` … (a fixed, small set).
    func refusal(_ reason: String) {
        refusalCount.wrappingAdd(1, ordering: .relaxed)
        Counter(label: MetricNames.edgeRefusals, dimensions: [("reason", reason)]).increment()
    }

    func slowConsumerClosed(_: Void = ()) {
        slowConsumerCount.wrappingAdd(1, ordering: .relaxed)
        slowConsumerCloses.increment()
    }

    /// History reads started to fill a gap (`SharedChannel`).
    public var historyFillsStarted: Int { fillTotal.load(ordering: .relaxed) }
    /// Gaps history could not fill: the channel's members were closed with 4010.
    public var historyGapsLost: Int { lossTotal.load(ordering: .relaxed) }

    func historyFill() {
        fillTotal.wrappingAdd(1, ordering: .relaxed)
        historyFills.increment()
    }

    func historyLoss() {
        lossTotal.wrappingAdd(1, ordering: .relaxed)
        historyLosses.increment()
    }

    func badEnvelope() { badEnvelopeCount.wrappingAdd(1, ordering: .relaxed) }

    func connectionsChanged(to count: Int) { connections.record(count) }
}
