import MetricsTestKit
import NIOCore
import Testing

@testable import FanoutRedis

/// `LingerGovernor`: lingers for a load whose rate does not depend on the linger (an open loop),
/// not for one that the linger slows down (a closed loop), and not when too little arrives for
/// company to come along. The loads are simulated: arrivals per millisecond as a function of
/// whether the governor lingers, fed to it on a virtual clock.
@Suite struct LingerGovernorTests {
    /// Runs `milliseconds` of a load that brings `rate(lingering, ms)` arrivals per second; returns
    /// the share of milliseconds spent lingering, over the last half of the run.
    private static func run(
        _ governor: inout LingerGovernor, milliseconds: Int, start: Int = 0, rate: (Bool, Int) -> Double
    ) -> Double {
        var owed = 0.0
        var lingering = 0
        for ms in start..<(start + milliseconds) {
            owed += rate(governor.lingers, ms) / 1000
            let count = Int(owed)
            owed -= Double(count)
            governor.record(count, now: .uptimeNanoseconds(UInt64(ms) * 1_000_000))
            if ms - start >= milliseconds / 2, governor.lingers { lingering += 1 }
        }
        return Double(lingering) / Double(milliseconds - milliseconds / 2)
    }

    private static func governor(delay: TimeAmount = .milliseconds(2), adaptive: Bool = true) -> LingerGovernor {
        LingerGovernor(delay: delay, adaptive: adaptive, seed: 42)
    }

    @Test func anOpenLoadSettlesLingeringAndStays() {
        var governor = Self.governor()
        let share = Self.run(&governor, milliseconds: 20_000) { _, _ in 10_000 }
        #expect(governor.settledLingering)
        // The rest is the windows spent probing without the linger.
        #expect(share > 0.9, "lingering \(share) of the time")
    }

    @Test func aClosedLoadDoesNotSettleLingering() {
        // Clients that wait for each answer: a linger cuts the rate to a third (echo-closed, C=50).
        var governor = Self.governor()
        let share = Self.run(&governor, milliseconds: 20_000) { lingering, _ in lingering ? 12_000 : 36_000 }
        #expect(!governor.settledLingering)
        #expect(share < 0.1, "lingering \(share) of the time: only the probes")
    }

    @Test func aClosedLoadThatIsStillRampingUpDoesNotLookOpen() {
        // Clients connecting over 3 s: the rate climbs through every probe of the ramp. Compared
        // with the window before it alone, a lingering probe would look like "the rate held"
        // (the climb makes up for what the linger costs); with the windows on both sides it does
        // not. The edge's linger costs a closed loop less (one write is in flight anyway): 20 %.
        var governor = Self.governor(delay: .milliseconds(1))
        var owed = 0.0
        var firstSettledLingering: Int?
        for ms in 0..<3_000 {
            let ramp = Double(ms + 1) / 3_000
            owed += ramp * (governor.lingers ? 20_000 : 25_000) / 1000
            let count = Int(owed)
            owed -= Double(count)
            governor.record(count, now: .uptimeNanoseconds(UInt64(ms) * 1_000_000))
            if governor.settledLingering, firstSettledLingering == nil { firstSettledLingering = ms }
        }
        #expect(firstSettledLingering == nil, "settled lingering during the ramp")
    }

    @Test func anOpenLoadThatIsStillRampingUpSettlesLingering() {
        var governor = Self.governor()
        _ = Self.run(&governor, milliseconds: 3_000) { _, ms in Double(ms + 1) / 3_000 * 10_000 }
        #expect(governor.settledLingering, "a linger does not slow an open load, even while it grows")
    }

    @Test func aLoadThatTurnsClosedLeavesTheLinger() {
        var governor = Self.governor()
        _ = Self.run(&governor, milliseconds: 5_000) { _, _ in 10_000 }
        #expect(governor.settledLingering)
        let share = Self.run(&governor, milliseconds: 20_000, start: 5_000) { lingering, _ in lingering ? 12_000 : 36_000 }
        #expect(!governor.settledLingering)
        #expect(share < 0.1, "lingering \(share) of the time")
    }

    @Test func aLoadThatTurnsOpenTakesTheLinger() {
        var governor = Self.governor()
        _ = Self.run(&governor, milliseconds: 5_000) { lingering, _ in lingering ? 12_000 : 36_000 }
        #expect(!governor.settledLingering)
        _ = Self.run(&governor, milliseconds: 20_000, start: 5_000) { _, _ in 10_000 }
        #expect(governor.settledLingering)
    }

    /// What an operator sees: every 100 ms window counted as lingering or direct, and each switch
    /// once, by direction — an open load that turns closed switches once each way.
    @Test func itsDecisionsAreCounted() {
        let metrics = TestMetrics()
        var governor = LingerGovernor(delay: .milliseconds(2), adaptive: true, seed: 42, metrics: LingerMetrics(linger: "read", factory: metrics))
        _ = Self.run(&governor, milliseconds: 5_000) { _, _ in 10_000 }
        #expect(governor.settledLingering)
        _ = Self.run(&governor, milliseconds: 20_000, start: 5_000) { lingering, _ in lingering ? 12_000 : 36_000 }
        #expect(!governor.settledLingering)
        func count(_ label: String, _ key: String, _ value: String) -> Int64 {
            metrics.counterTotal(label: label, dimensions: [("linger", "read"), (key, value)])
        }
        #expect(count("fanout_linger_switches_total", "to", "lingering") == 1)
        #expect(count("fanout_linger_switches_total", "to", "direct") == 1)
        let lingering = count("fanout_linger_windows_total", "mode", "lingering")
        let direct = count("fanout_linger_windows_total", "mode", "direct")
        // 25 s from the first arrival at 0 ms: windows end at 100, 200, …, 24,900 ms.
        #expect(lingering + direct == 249)
        // Most of the open 5 s (50 windows) lingering. Of the closed 20 s, lingering only until the
        // next probe (at most 32 windows and a quarter after a run of confirming probes) and in
        // the probes that follow.
        #expect(lingering >= 30 && lingering <= 100, "\(lingering) lingering windows")
        #expect(direct >= 149, "\(direct) direct windows")
    }

    /// A governor with nothing to decide (not adaptive, or no delay set) makes no series at all:
    /// a process with no linger exports none.
    @Test(arguments: [(TimeAmount.milliseconds(2), false), (.zero, true)])
    func aGovernorWithNothingToDecideCountsNothing(delay: TimeAmount, adaptive: Bool) {
        let metrics = TestMetrics()
        var governor = LingerGovernor(delay: delay, adaptive: adaptive, seed: 42, metrics: LingerMetrics(linger: "write", factory: metrics))
        _ = Self.run(&governor, milliseconds: 2_000) { _, _ in 10_000 }
        #expect(metrics.counters.isEmpty)
    }

    @Test func aNewLoadAfterAPauseIsMeasuredSoon() {
        // A long closed load spaces the probes out to seconds; after a pause, an open load must
        // not wait that long for its first.
        for seed in UInt64(1)...10 {
            var governor = LingerGovernor(delay: .milliseconds(2), adaptive: true, seed: seed)
            _ = Self.run(&governor, milliseconds: 20_000) { lingering, _ in lingering ? 12_000 : 36_000 }
            _ = Self.run(&governor, milliseconds: 2_000, start: 20_000) { _, _ in 0 }
            _ = Self.run(&governor, milliseconds: 1_000, start: 22_000) { _, _ in 10_000 }
            #expect(governor.settledLingering, "seed \(seed): lingering within 1 s of the new load")
        }
    }

    @Test func tooLittleTrafficNeverLingers() {
        // 300/s: a 2 ms linger would gather 0.6 arrivals.
        var governor = Self.governor()
        let share = Self.run(&governor, milliseconds: 10_000) { _, _ in 300 }
        #expect(share == 0)
        #expect(!governor.settledLingering)
    }

    @Test func trafficThatFadesEndsTheLinger() {
        var governor = Self.governor()
        _ = Self.run(&governor, milliseconds: 5_000) { _, _ in 10_000 }
        #expect(governor.settledLingering)
        let share = Self.run(&governor, milliseconds: 2_000, start: 5_000) { _, _ in 300 }
        #expect(share == 0)
    }

    @Test func withoutAdaptingTheDelayDecides() {
        var always = Self.governor(adaptive: false)
        #expect(Self.run(&always, milliseconds: 2_000) { lingering, _ in lingering ? 12_000 : 36_000 } == 1)
        var never = Self.governor(delay: .zero)
        #expect(Self.run(&never, milliseconds: 2_000) { _, _ in 10_000 } == 0)
    }

    @Test func confirmingProbesComeLessOften() {
        // An open load: the probes without the linger thin out as they keep confirming it.
        var governor = Self.governor()
        var probes: [Int] = []
        var wasProbing = false
        for ms in 0..<60_000 {
            governor.record(10, now: .uptimeNanoseconds(UInt64(ms) * 1_000_000))
            if governor.probing, !wasProbing { probes.append(ms) }
            wasProbing = governor.probing
        }
        let gaps = zip(probes.dropFirst(), probes).map { $0 - $1 }
        #expect(gaps.count >= 5)
        #expect(gaps.last! > 2 * gaps[0], "gaps \(gaps)")
        let windowMilliseconds = Int(LingerGovernor.window.nanoseconds / 1_000_000)
        #expect(gaps.allSatisfy { $0 <= Int(Double(LingerGovernor.maxProbeInterval) * 1.25 + 2) * windowMilliseconds })
    }
}
