import FanoutBench
import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import Testing

/// Fanout runs as any user and needs no capabilities (issue 12): the built binary, started as
/// `nobody` with an empty capability set, serves as edge, worker, `stats` and `bench`.
///
/// This is the test that would have caught `.socketOption(.tcp_nodelay)` (SO_DEBUG, which needs
/// CAP_NET_ADMIN): every Redis connection of an unprivileged process failed with EACCES.
@Suite(.serialized) struct UnprivilegedTests {
    @Test func edgeWorkerStatsAndBenchRunAsNobodyWithoutCapabilities() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let common = ["--redis-url", server.url, "--key-prefix", prefix]
        let edge = try FanoutProcess(
            ["edge", "--port", String(port), "--edge-id", "nobody0"] + common, environment: ["FANOUT_RATE_LIMIT": "0"],
            unprivileged: true)
        let worker = try FanoutProcess(["worker", "--metrics-port", "0"] + common, unprivileged: true)
        let ready = await eventually(within: .seconds(30)) { await HTTPProbe.status(port: port, path: "/readyz") == 200 }
        #expect(ready, "edge never became ready; log:\n\(edge.log.suffix(2000))\nworker log:\n\(worker.log.suffix(2000))")
        guard ready else { return }

        // Both really run as the unprivileged user, with no effective capability.
        for process in [edge, worker] {
            let identity = UnprivilegedUser.identity(of: process.child.pid)
            #expect(identity?.uid == UnprivilegedUser.uid, "\(String(describing: identity))")
            if UnprivilegedUser.demotes { #expect(identity?.effectiveCapabilities == "0000000000000000") }
        }

        try await withTestClients(3, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            for (index, client) in clients.enumerated() {
                let message = "unprivileged \(index) ✓"
                try await client.send(text: message)
                #expect(try await client.nextText(timeout: .seconds(20)) == message)
            }
        }

        let (code, output) = try await FanoutBinary.run(["stats", "--json"] + common, unprivileged: true)
        #expect(code == 0, "fanout stats as \(UnprivilegedUser.name) failed: \(output)")
        #expect(output.contains("\"edges\""), "\(output)")

        // The load generator opens its own sockets: the same must hold for it.
        let (benchCode, benchOutput) = try await FanoutBinary.run(
            ["bench", "echo-closed", "--url", "ws://127.0.0.1:\(port)/ws", "-c", "4", "--duration", "0.5", "--warmup", "0.2", "--json"],
            unprivileged: true, timeout: .seconds(60))
        #expect(benchCode == 0, "fanout bench as \(UnprivilegedUser.name) failed: \(benchOutput)")
        let line = benchOutput.split(separator: "\n").last { $0.hasPrefix("{") }
        let report = try line.map { try JSONDecoder().decode(BenchReport.self, from: Data($0.utf8)) }
        #expect(report.map { $0.received > 0 && $0.lost == 0 && $0.errors == 0 } == true, "\(benchOutput)")

        #expect(await worker.terminate() == 0)
        #expect(await edge.terminate() == 0)
        #expect(!edge.log.contains("Permission denied") && !worker.log.contains("Permission denied"))
    }
}
