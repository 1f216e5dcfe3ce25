import FanoutCore
import FanoutTesting
import Foundation
import Testing

/// Several workers on one host with default settings: each listens for `/metrics` on a port of its
/// own in `FANOUT_METRICS_PORT`'s default range, and `fanout stats` shows every worker's address.
@Suite(.serialized) struct WorkerMetricsTests {
    @Test func twoWorkersWithDefaultSettingsAreBothScrapeableAndListedByStats() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let common = ["--redis-url", server.url, "--key-prefix", prefix]
        // No --metrics-port and no FANOUT_METRICS_PORT: both take the default.
        let workers = try (0..<2).map { _ in try FanoutProcess(["worker"] + common) }

        // Each records its address once its HTTP server listens and Redis answers.
        var listed: [StatsSnapshot.WorkerMetrics] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            listed = try await Self.workerMetrics(common)
            if listed.count == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try #require(listed.count == 2,
            "fanout stats --json never listed both workers' metrics addresses: \(listed); logs:\n\(workers.map(\.log))")
        let ports = listed.compactMap { $0.address.split(separator: ":").last.flatMap { Int($0) } }
        #expect(Set(ports).count == 2, "two workers, two ports: \(listed)")
        for port in ports {
            #expect((9090...9099).contains(port), "port \(port) outside the default range 9090-9099")
            // The address is where this worker's own metrics are: a worker's families, served there.
            let metrics = try await HTTPGet.body(port: port, path: "/metrics")
            #expect(metricValue(metrics, MetricNames.workerHandled) != nil, "no worker metrics on port \(port)")
            #expect(await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 200 })
        }
        // Each worker logged the address it bound.
        for worker in workers {
            #expect(ports.contains { worker.log.contains("127.0.0.1:\($0)") }, "no bound address in the log:\n\(worker.log)")
        }

        // The table shows the same addresses; a worker that stops gracefully takes its address along.
        let (_, table) = try await FanoutBinary.run(["stats"] + common)
        for worker in listed { #expect(table.contains("  \(worker.name)  \(worker.address)"), "\(table)") }
        #expect(await workers[0].terminate() == 0)
        let remaining = try await Self.workerMetrics(common)
        #expect(remaining.count == 1 && remaining.first?.address != nil, "\(remaining)")
        let addresses = try await RedisCLI.run(port: server.port, ["HGETALL", "\(prefix):worker-metrics"].map { Array($0.utf8) })
        #expect(addresses.text.split(separator: "\n").count == 2, "one field and its value left: \(addresses.text)")
        #expect(await workers[1].terminate() == 0)
    }

    /// The workers' metrics addresses `fanout stats --json` lists.
    static func workerMetrics(_ common: [String]) async throws -> [StatsSnapshot.WorkerMetrics] {
        let (code, output) = try await FanoutBinary.run(["stats", "--json"] + common)
        guard code == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return [] }
        return (try? JSONDecoder().decode(StatsSnapshot.self, from: Data(line.utf8)))?.workerMetrics ?? []
    }
}
