public import NIOCore

/// Decides whether a linger — waiting a little before a write or a read, so that work arriving
/// meanwhile shares it — pays, from the rate at which work arrives (decision 0046).
///
/// A linger turns many wake-ups into one when arrivals do not depend on answers (an *open* loop:
/// clients that send on their own clock). When they do (a *closed* loop: clients that wait for
/// each answer before sending the next), the linger is added to every round trip and lowers the
/// rate itself: echo-closed at C=50 ran at a third of its speed with the lingers on. Batch sizes
/// cannot tell the two apart — a lingering closed loop looks like a slower open one, which is how
/// a rule based on batch sizes got stuck lingering — so the governor measures the effect itself:
/// it keeps one mode and now and then spends one window in the other, and compares the arrival
/// rates: the probe's against the mean of the windows just before and just after it.
///
/// - Settled without lingering, it probes a linger when one would gather company (the rate times
///   the delay is at least one arrival). If the rate holds (≥ `keepRatio` of the rate around the
///   probe) the load is open and it settles lingering.
/// - Settled lingering, it probes without. If the rate rises (> `riseRatio` of the rate around the
///   probe) the linger was holding the clients back, and it settles without.
/// - A probe that confirms the mode doubles the time to the next one (up to `maxProbeInterval`
///   windows); a switch, or a window too quiet to measure (a pause: what comes next is a new
///   load), starts again from `baseProbeInterval`. Probes are jittered so that two
///   governors on one path (the edge's and the worker's) do not probe in lock-step.
///
/// Owned by one event loop or one task: a value type, no locks. The caller feeds it what arrived
/// and when (`record`), and asks `lingers` before each decision.
public struct LingerGovernor: Sendable {
    /// How long one measuring window lasts.
    public static let window = TimeAmount.milliseconds(100)
    /// Windows between probes at first and after a switch, and the most after confirming probes.
    static let baseProbeInterval = 5
    static let maxProbeInterval = 32
    /// Fewer arrivals than this in a window are too few to compare, and too few to linger for.
    static let minimumArrivals = 100
    /// A probe that lingers keeps the linger if the rate stays at least this share of the rate around it.
    static let keepRatio = 0.95
    /// A probe without the linger drops it if the rate rises above this share of the rate around it.
    static let riseRatio = 1.1

    /// The configured linger; zero: never linger.
    public let delay: TimeAmount
    /// `false`: linger whenever the delay is set (`FANOUT_LINGER_ADAPTIVE=false`).
    public let adaptive: Bool

    /// The settled mode.
    public private(set) var settledLingering = false
    private var phase = Phase.settled
    /// Arrivals per second in the settled window before the probe, and in the probe.
    private var rateBefore = 0.0
    private var probeRate = 0.0
    private var probeHadEnough = false
    private var windowStart: NIODeadline?
    private var arrivals = 0
    private var windowsUntilProbe = LingerGovernor.baseProbeInterval
    private var probeInterval = LingerGovernor.baseProbeInterval
    private var jitter: UInt64
    /// Where its decisions are counted (`nil`: nowhere, as in simulations).
    private let metrics: LingerMetrics?

    private enum Phase {
        case settled
        /// One window in the other mode.
        case probing
        /// One window back in the settled mode, to compare the probe with the windows on both
        /// sides of it: a rate that is ramping up or down (clients connecting, a load fading)
        /// moves both sides alike and cancels out.
        case returning
    }

    /// `seed`: for the probes' jitter (tests pass one; processes on one path must not share it).
    /// `metrics`: where to count its decisions; made only when it has decisions to make (adaptive,
    /// with a delay), so a process with no linger set exports no linger series at all.
    public init(
        delay: TimeAmount, adaptive: Bool, seed: UInt64 = .random(in: 1...UInt64.max),
        metrics: @autoclosure () -> LingerMetrics? = nil
    ) {
        self.delay = delay
        self.adaptive = adaptive
        self.jitter = seed
        self.metrics = adaptive && delay > .zero ? metrics() : nil
    }

    /// `true` during a window spent in the other mode.
    public var probing: Bool { phase == .probing }

    /// Whether to linger now.
    public var lingers: Bool {
        guard delay > .zero else { return false }
        guard adaptive else { return true }
        return settledLingering != probing
    }

    /// Counts `count` arrivals at `now`; at the end of a window, settles or probes. `now` is read
    /// only while the governor measures (adaptive, with a delay): a caller on a hot path with no
    /// linger set pays no clock read.
    public mutating func record(_ count: Int, now: @autoclosure () -> NIODeadline) {
        guard adaptive, delay > .zero else { return }
        let now = now()
        arrivals += count
        guard let start = windowStart else {
            windowStart = now
            return
        }
        let elapsed = now - start
        guard elapsed >= Self.window else { return }
        metrics?.windowEnded(lingering: lingers)
        let enough = arrivals >= Self.minimumArrivals
        let rate = Double(arrivals) * 1e9 / Double(elapsed.nanoseconds)
        arrivals = 0
        windowStart = now
        switch phase {
        case .probing:
            probeRate = rate
            probeHadEnough = enough
            phase = .returning
        case .returning:
            phase = .settled
            conclude(reference: (rateBefore + rate) / 2, enough: probeHadEnough && enough)
        case .settled:
            if settledLingering, !enough {
                // Too little traffic for company to come along during a linger: stop waiting for it.
                settle(lingering: false)
                return
            }
            if !enough {
                // A pause: whatever load comes next is a new one, to be measured soon.
                probeInterval = Self.baseProbeInterval
                windowsUntilProbe = min(windowsUntilProbe, probeInterval)
            }
            windowsUntilProbe -= 1
            guard windowsUntilProbe <= 0 else { return }
            if !settledLingering, !enough || rate * Double(delay.nanoseconds) / 1e9 < 1 {
                // A linger would gather nobody: look again later.
                scheduleProbe()
                return
            }
            rateBefore = rate
            phase = .probing
        }
    }

    private mutating func conclude(reference: Double, enough: Bool) {
        let switches: Bool
        if settledLingering {
            // Without the linger the rate rose: clients were waiting on it.
            switches = probeRate > reference * Self.riseRatio
        } else {
            // With the linger the rate held: the clients do not wait on answers.
            switches = enough && probeRate >= reference * Self.keepRatio
        }
        if switches {
            settle(lingering: !settledLingering)
        } else {
            probeInterval = min(probeInterval * 2, Self.maxProbeInterval)
            scheduleProbe()
        }
    }

    private mutating func settle(lingering: Bool) {
        if lingering != settledLingering { metrics?.switched(toLingering: lingering) }
        settledLingering = lingering
        probeInterval = Self.baseProbeInterval
        scheduleProbe()
    }

    private mutating func scheduleProbe() {
        // xorshift: a quarter of the interval either way, so probes of two governors drift apart.
        jitter ^= jitter << 13
        jitter ^= jitter >> 7
        jitter ^= jitter << 17
        let spread = max(1, probeInterval / 2)
        windowsUntilProbe = probeInterval - spread / 2 + Int(jitter % UInt64(spread + 1))
    }
}
