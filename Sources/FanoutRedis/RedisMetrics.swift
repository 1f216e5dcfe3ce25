import Metrics

/// The Redis client's metrics (swift-metrics; exported only where the process bootstrapped a backend).
/// Names match `MetricNames` in FanoutCore, which cannot be imported from here.
enum RedisMetrics {
    /// Commands written per batch: how much automatic pipelining is saving.
    static let batchSize = Recorder(label: "fanout_redis_write_batch_commands")
    /// Connections (command or subscriber) re-established after being lost.
    static let reconnects = Counter(label: "fanout_redis_reconnects_total")

    /// Counts a failed command by kind (`server`, `timedOut`, `connectionClosed`, …) — never by key or channel.
    static func countError(_ error: any Error) {
        let kind = (error as? RedisError)?.code.description ?? "other"
        Counter(label: "fanout_redis_errors_total", dimensions: [("kind", kind)]).increment()
    }
}
