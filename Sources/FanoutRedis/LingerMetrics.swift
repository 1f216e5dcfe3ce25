public import Metrics

/// What a `LingerGovernor` decided, for an operator who set a linger and wants to know whether it
/// is applied: how many of its 100 ms windows it spent lingering and how many not (the rate of
/// the first over both is the share of time it lingers), and how often it switched (a steady load
/// switches once; a number that keeps climbing under a steady load means the probes disagree).
///
/// Counters, not a gauge of the current mode: an edge has one governor per event loop and a
/// worker one per partition, and a connection that is re-established starts a new governor, so
/// a gauge would need every owner to take back its share when it goes; a counter never does.
/// Counted only by adaptive governors with a delay set (`FANOUT_LINGER_ADAPTIVE`, the default).
public struct LingerMetrics: Sendable {
    private let lingeringWindows: Counter
    private let directWindows: Counter
    private let switchesToLingering: Counter
    private let switchesToDirect: Counter
    /// `MetricNames.lingerWindows` and `MetricNames.lingerSwitches` (FanoutCore cannot be imported here).
    private static let windows = "fanout_linger_windows_total"
    private static let switches = "fanout_linger_switches_total"

    /// `linger`: which wait this governor decides — `write` (the edge's XADD writes,
    /// `FANOUT_APPEND_LINGER_US`) or `read` (the worker's reads, `FANOUT_BATCH_LINGER_MS`).
    public init(linger: String, factory: any MetricsFactory = MetricsSystem.factory) {
        lingeringWindows = Counter(label: Self.windows, dimensions: [("linger", linger), ("mode", "lingering")], factory: factory)
        directWindows = Counter(label: Self.windows, dimensions: [("linger", linger), ("mode", "direct")], factory: factory)
        switchesToLingering = Counter(label: Self.switches, dimensions: [("linger", linger), ("to", "lingering")], factory: factory)
        switchesToDirect = Counter(label: Self.switches, dimensions: [("linger", linger), ("to", "direct")], factory: factory)
    }

    /// A measuring window ended, spent lingering or not (probes included).
    func windowEnded(lingering: Bool) {
        (lingering ? lingeringWindows : directWindows).increment()
    }

    /// The governor settled in the other mode.
    func switched(toLingering: Bool) {
        (toLingering ? switchesToLingering : switchesToDirect).increment()
    }
}
