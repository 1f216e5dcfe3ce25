/// Every metric Fanout exports, named once. Prometheus names; durations in seconds.
///
/// No connection, message or consumer IDs are ever dimensions: label values stay few and fixed
/// (`type`: text|binary, `reason`: overloaded|unavailable|…). The Grafana dashboard in
/// `Config/grafana/dashboards/fanout.json` and the metrics list in Docs/operations.md#metrics
/// use these names.
public enum MetricNames {
    public static let edgeConnections = "fanout_edge_connections"
    public static let edgeMessagesIn = "fanout_edge_messages_in_total"
    public static let edgeMessagesOut = "fanout_edge_messages_out_total"
    public static let edgeBytesIn = "fanout_edge_bytes_in_total"
    public static let edgeBytesOut = "fanout_edge_bytes_out_total"
    public static let edgeAppendDuration = "fanout_edge_xadd_duration_seconds"
    public static let edgeEndToEndLatency = "fanout_edge_end_to_end_latency_seconds"
    public static let edgeRefusals = "fanout_edge_refusals_total"
    public static let edgeSlowConsumerCloses = "fanout_edge_slow_consumer_closes_total"
    /// Counter: history reads an edge started to fill a gap in a room or user channel (a missed
    /// live message, a subscriber reconnect, a new subscription).
    public static let edgeHistoryFills = "fanout_edge_history_fills_total"
    /// Counter: times an edge could not fill such a gap and closed the channel's members with 4010.
    public static let edgeHistoryLosses = "fanout_edge_history_losses_total"
    public static let streamLength = "fanout_stream_length"
    public static let streamLag = "fanout_stream_lag"
    public static let streamPending = "fanout_stream_pending"
    public static let streamTrimRisks = "fanout_stream_trim_risk_total"
    /// Lag + pending: the entries of the inbound stream not yet processed (sampled by edges).
    public static let streamBacklog = "fanout_stream_backlog"
    /// Entries the workers' trimmer removed, by `stream` (`inbound`, `dead`).
    public static let streamTrimmed = "fanout_stream_trimmed_total"
    /// Entries found removed before they were processed (pending ones reported by XAUTOCLAIM,
    /// never-delivered ones seen in the group's counters): must stay 0; each is also an error log.
    public static let streamTrimmedUnprocessed = "fanout_stream_trimmed_unprocessed_total"
    /// Redis's `used_memory` in bytes (sampled by edges with the stream gauges).
    public static let redisUsedMemory = "fanout_redis_used_memory_bytes"
    public static let workerHandlerDuration = "fanout_worker_handler_duration_seconds"
    public static let workerHandled = "fanout_worker_handled_total"
    public static let workerFailed = "fanout_worker_handler_failures_total"
    public static let workerReclaimed = "fanout_worker_reclaimed_total"
    public static let workerDeadLettered = "fanout_worker_dead_lettered_total"
    public static let workerUndeliverable = "fanout_worker_undeliverable_total"
    /// Counter: 100 ms windows a `LingerGovernor` spent lingering or not, by `linger` (`write`:
    /// the edge's XADD writes; `read`: the worker's reads) and `mode` (`lingering`, `direct`).
    public static let lingerWindows = "fanout_linger_windows_total"
    /// Counter: times a `LingerGovernor` settled in the other mode, by `linger` and `to`.
    public static let lingerSwitches = "fanout_linger_switches_total"
    public static let redisBatchSize = "fanout_redis_write_batch_commands"
    public static let redisReconnects = "fanout_redis_reconnects_total"
    public static let redisErrors = "fanout_redis_errors_total"
}
