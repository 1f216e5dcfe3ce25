import NIOCore

extension Bench {
    /// `churn`: `rounds` rounds of `connections` connections, each opened, confirmed by one echo
    /// through the whole path (so the edge subscribed, appended `open`, and will append `close`),
    /// and closed; the edge's VmRSS is read after each round. With `roundInterval`, a round starts
    /// every interval: a steady connection rate (the soak test's 500 connections/s).
    static func churn(_ settings: BenchSettings) async throws -> BenchReport {
        let limit = ProcessResources.raiseOpenFileLimit()
        guard settings.connections + 256 <= limit else {
            throw BenchError("\(settings.connections) connections per round need more open files than this process may have (\(limit))")
        }
        let load = ConnsLoad()
        return try await withClient(settings) { client in
            var rss: [Int] = []
            var opened = 0
            var failed = 0
            let start = ContinuousClock.now
            for round in 0..<max(1, settings.rounds) {
                let roundStart = ContinuousClock.now
                let (connections, failures) = await client.open(
                    count: settings.connections, concurrency: settings.connectConcurrency, receiver: load,
                    firstIndex: round * settings.connections
                ) { connection in
                    try await load.confirmed(connection)
                }
                await client.close(connections)
                opened += connections.count
                failed += failures
                if let pid = settings.edgePID, let kib = ProcessResources.residentKiB(pid: pid) { rss.append(kib) }
                let elapsed = ContinuousClock.now - roundStart
                if settings.roundInterval > elapsed { try await Task.sleep(for: settings.roundInterval - elapsed) }
            }
            let total = ContinuousClock.now - start
            let totals = try await client.snapshot()
            let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
            var report = BenchReport(
                mode: .churn, target: settings.target.description, connections: settings.connections,
                payloadBytes: load.size, seconds: seconds, throughput: Double(opened) / seconds, offered: nil,
                latency: .init(totals.latency), sent: settings.connections * max(1, settings.rounds), received: opened,
                lost: failed, mismatches: totals.mismatches, errors: totals.errors + failed)
            report.rssAfterRoundKiB = rss.isEmpty ? nil : rss
            return report
        }
    }
}
