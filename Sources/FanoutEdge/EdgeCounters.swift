import Synchronization

/// Counts what an edge did, for logs, tests and metrics. Relaxed atomics: totals, not a timeline.
public final class EdgeCounters: Sendable {
    let messagesInCount = Atomic<Int>(0)
    let messagesOutCount = Atomic<Int>(0)
    let slowConsumerCloses = Atomic<Int>(0)
    let badEnvelopes = Atomic<Int>(0)
    let refusals = Atomic<Int>(0)

    public init() {}

    /// Client frames appended to the inbound stream.
    public var messagesIn: Int { messagesInCount.load(ordering: .relaxed) }
    /// Frames written to clients.
    public var messagesOut: Int { messagesOutCount.load(ordering: .relaxed) }
    /// Connections closed with 4008 because their outbound buffer filled up.
    public var slowConsumerClosed: Int { slowConsumerCloses.load(ordering: .relaxed) }
    /// Inbound frames refused with an explicit answer (Redis unavailable, overload).
    public var refused: Int { refusals.load(ordering: .relaxed) }
}

extension Atomic where Value == Int {
    func add(_ amount: Int) { _ = wrappingAdd(amount, ordering: .relaxed) }
}
