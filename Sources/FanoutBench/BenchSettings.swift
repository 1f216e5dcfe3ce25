/// The bench modes `fanout bench MODE` runs.
public enum BenchMode: String, Sendable, CaseIterable, Codable {
    /// C connections each send a message and wait for the identical bytes back, repeatedly.
    case echoClosed = "echo-closed"
    /// A fixed aggregate rate over C connections; latency from the intended send time.
    case echoOpen = "echo-open"
    /// M members join a room (chat protocol); P of them publish at an aggregate rate.
    case fanout
    /// N idle connections: connect rate, failures, the edge's RSS per connection.
    case conns
    /// Rounds of N connections opened, echoed once through the whole path and closed: whether the
    /// edge gives back what a connection took (its RSS after every round).
    case churn
}

/// What one bench run does. Defaults are the bar's settings (BENCHMARKS.md), not the smallest run.
public struct BenchSettings: Sendable {
    public var target: BenchTarget
    /// Connections (echo modes) or idle connections to open (conns).
    public var connections = 50
    /// Payload bytes of every message (at least ``BenchPayload/headerBytes``, 40).
    public var payloadBytes = 64
    /// Measured time, after the warm-up.
    public var duration: Duration = .seconds(10)
    /// Load before the measurement starts, not counted.
    public var warmup: Duration = .seconds(2)
    /// Aggregate messages per second: echo-open over all connections; fanout over all publishers.
    public var rate = 10_000
    /// Fanout: connections that join the room (publishers are the first of them).
    public var members = 1_000
    /// Fanout: members that also publish.
    public var publishers = 1
    /// Fanout: the room's name.
    public var room = "bench"
    /// Event-loop threads of the load generator.
    public var threads = 2
    /// After the measurement, how long to wait for replies still in flight before counting them lost.
    public var drainTimeout: Duration = .seconds(5)
    /// Handshakes in flight at once while connecting.
    public var connectConcurrency = 256
    /// Conns: the process whose VmRSS is read before and after (the edge).
    public var edgePID: Int32?
    /// Conns: each connection sends one message and waits for its echo, so a connection counts
    /// only once the whole path (the edge's SUBSCRIBE included) works for it.
    public var confirm = true
    /// Conns: how long to hold the connections open after the RSS reading.
    public var hold: Duration = .zero
    /// Processes (name → PID) whose CPU time inside the measurement window is reported, per
    /// message: the edge, the worker, Redis, the reference server.
    public var watch: [String: Int32] = [:]
    /// Churn: rounds of `connections` connections opened, echoed once and closed.
    public var rounds = 10
    /// Churn: seconds from the start of one round to the start of the next (0: back to back).
    public var roundInterval: Duration = .zero

    public init(target: BenchTarget) {
        self.target = target
    }
}
