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

    private let connections = Gauge(label: MetricNames.edgeConnections)
    private let textIn = Counter(label: MetricNames.edgeMessagesIn, dimensions: [("type", "text")])
    private let binaryIn = Counter(label: MetricNames.edgeMessagesIn, dimensions: [("type", "binary")])
    private let textOut = Counter(label: MetricNames.edgeMessagesOut, dimensions: [("type", "text")])
    private let binaryOut = Counter(label: MetricNames.edgeMessagesOut, dimensions: [("type", "binary")])
    private let bytesIn = Counter(label: MetricNames.edgeBytesIn)
    private let bytesOut = Counter(label: MetricNames.edgeBytesOut)
    private let slowConsumerCloses = Counter(label: MetricNames.edgeSlowConsumerCloses)
    let appendDuration = Timer(label: MetricNames.edgeAppendDuration)
    let endToEndLatency = Timer(label: MetricNames.edgeEndToEndLatency)
    let streamLength = Gauge(label: MetricNames.streamLength)
    let streamLag = Gauge(label: MetricNames.streamLag)
    let streamPending = Gauge(label: MetricNames.streamPending)
    let trimRisks = Counter(label: MetricNames.streamTrimRisks)

    public init() {}

    /// Client frames appended to the inbound stream.
    public var messagesIn: Int { messagesInCount.load(ordering: .relaxed) }
    /// Frames written to clients.
    public var messagesOut: Int { messagesOutCount.load(ordering: .relaxed) }
    /// Connections closed with 4008 because their outbound buffer filled up.
    public var slowConsumerClosed: Int { slowConsumerCount.load(ordering: .relaxed) }
    /// Messages or connections refused with an explicit answer.
    public var refused: Int { refusalCount.load(ordering: .relaxed) }

    func messageIn(_ type: FrameType, bytes: Int) {
        messagesInCount.wrappingAdd(1, ordering: .relaxed)
        (type == .text ? textIn : binaryIn).increment()
        bytesIn.increment(by: bytes)
    }

    func messageOut(_ type: FrameType, bytes: Int) {
        messagesOutCount.wrappingAdd(1, ordering: .relaxed)
        (type == .text ? textOut : binaryOut).increment()
        bytesOut.increment(by: bytes)
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

    func badEnvelope() { badEnvelopeCount.wrappingAdd(1, ordering: .relaxed) }

    func connectionsChanged(to count: Int) { connections.record(count) }
}
