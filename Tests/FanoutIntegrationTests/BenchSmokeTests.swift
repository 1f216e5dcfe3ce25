import FanoutBench
import FanoutEdge
import FanoutTesting
import FanoutWorker
import Foundation
import Testing

/// A short run of every `fanout bench` mode against the full pipeline and against the in-process
/// ceiling, so the tool cannot rot. These assert behaviour (nothing lost, nothing corrupted,
/// something measured), never speed: speed is BENCHMARKS.md's business.
@Suite struct BenchSmokeTests {
    /// A load generator sends far above a person's rate: the per-connection rate limit is off,
    /// as in `scripts/bench.sh` (Docs/development.md: bench against an edge started with `FANOUT_RATE_LIMIT=0`).
    static let unlimited: @Sendable (inout EdgeConfiguration) -> Void = { $0.rateLimit = 0 }

    /// ~1 s per mode: 0.2 s warm-up, 0.5 s measured, a bounded drain.
    static func smoke(_ target: BenchTarget) -> BenchSettings {
        var settings = BenchSettings(target: target)
        settings.connections = 8
        settings.warmup = .milliseconds(200)
        settings.duration = .milliseconds(500)
        settings.drainTimeout = .seconds(5)
        settings.rate = 400
        settings.members = 20
        settings.publishers = 2
        settings.threads = 1
        settings.edgePID = getpid()
        return settings
    }

    static func expectClean(_ report: BenchReport) {
        #expect(report.errors == 0, "\(report.table)")
        #expect(report.mismatches == 0, "\(report.table)")
        #expect(report.lost == 0, "\(report.table)")
        #expect(report.throughput > 0, "\(report.table)")
        #expect(report.latency.count > 0, "\(report.table)")
        #expect(report.received > 0 && report.received == report.sent, "\(report.table)")
    }

    @Test(arguments: [BenchMode.echoClosed, .echoOpen, .conns, .churn])
    func echoModesRunCleanAgainstThePipeline(mode: BenchMode) async throws {
        let report = try await TestCluster.run(configureEdge: Self.unlimited) { cluster in
            try await Bench.run(mode, Self.smoke(BenchTarget(port: cluster.port(edge: 0))))
        }
        Self.expectClean(report)
    }

    @Test func fanoutModeDeliversEveryMessageToEveryMemberThroughThePipeline() async throws {
        let report = try await TestCluster.run(handler: ChatHandler(), configureEdge: Self.unlimited) { cluster in
            try await Bench.run(.fanout, Self.smoke(BenchTarget(port: cluster.port(edge: 0))))
        }
        Self.expectClean(report)
        #expect(report.sent % 20 == 0)
    }

    @Test(arguments: BenchMode.allCases)
    func everyModeRunsCleanAgainstTheCeiling(mode: BenchMode) async throws {
        let report = try await TestCeiling.run { target in try await Bench.run(mode, Self.smoke(target)) }
        Self.expectClean(report)
    }

    @Test(arguments: BenchMode.allCases)
    func everyModeRunsCleanAgainstTheDirectServer(mode: BenchMode) async throws {
        let report = try await TestDirect.run { target in try await Bench.run(mode, Self.smoke(target)) }
        Self.expectClean(report)
    }

    /// CPU time of watched processes is measured inside the window and reported per message.
    @Test func aWatchedProcessReportsItsCPUPerMessage() async throws {
        let report = try await TestDirect.run { target in
            var settings = Self.smoke(target)
            settings.watch = ["self": getpid()]
            return try await Bench.run(.echoClosed, settings)
        }
        Self.expectClean(report)
        #expect(report.cpuSeconds?["self"].map { $0 > 0 } == true, "\(report.table)")
        #expect(report.cpuMicrosecondsPerMessage?["self"].map { $0 > 0 } == true)
    }

    /// The load generator's own CPU per message is reported on every run, watched processes or
    /// not: it shares the cores with what it measures.
    @Test(arguments: [BenchMode.echoClosed, .echoOpen, .fanout])
    func theClientReportsItsOwnCPUPerMessage(mode: BenchMode) async throws {
        let report = try await TestDirect.run { target in try await Bench.run(mode, Self.smoke(target)) }
        Self.expectClean(report)
        #expect(report.cpuSeconds == nil)
        #expect(report.clientCPUMicrosecondsPerMessage.map { $0 > 0 } == true, "\(report.table)")
        #expect(report.table.contains("client "), "\(report.table)")
    }

    /// Churn reads the edge's RSS after every round.
    @Test func churnReportsTheRSSAfterEveryRound() async throws {
        let report = try await TestDirect.run { target in
            var settings = Self.smoke(target)
            settings.rounds = 3
            return try await Bench.run(.churn, settings)
        }
        Self.expectClean(report)
        #expect(report.rssAfterRoundKiB?.count == 3)
        #expect(report.received == 3 * 8)
    }

    @Test func reportsRenderAsTableAndJSON() async throws {
        let report = try await TestCeiling.run { target in try await Bench.run(.echoClosed, Self.smoke(target)) }
        #expect(report.table.contains("echo-closed"))
        let decoded = try JSONDecoder().decode(BenchReport.self, from: JSONEncoder().encode(report))
        #expect(decoded.sent == report.sent)
    }
}
