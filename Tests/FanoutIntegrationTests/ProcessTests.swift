import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import NIOCore
import Testing

/// End to end with the built `fanout` binary: edges and workers as real processes.
@Suite(.serialized) struct ProcessTests {
    @Test func echoThroughEdgeAndWorkerProcessesThenStatsAndGracefulShutdown() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let ports = [try RedisTestServer.freePort(), try RedisTestServer.freePort()]
        let common = ["--redis-url", server.url, "--key-prefix", prefix]
        let edges = try ports.enumerated().map { index, port in
            try FanoutProcess(["edge", "--port", String(port), "--edge-id", "edge\(index)"] + common)
        }
        let workers = try (0..<2).map { _ in try FanoutProcess(["worker", "--metrics-port", "0"] + common) }
        for port in ports {
            #expect(await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 200 }, "edge on \(port) never became ready")
        }
        let urls = ports.map { "ws://127.0.0.1:\($0)/ws" }
        try await withTestClients(20, urls: urls) { clients in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        let sent = (0..<20).map { "p\(index)-\($0)" }
                        for message in sent { try await client.send(text: message) }
                        var received: [String] = []
                        for _ in 0..<20 { received.append(try await client.nextText(timeout: .seconds(30))) }
                        #expect(Set(received) == Set(sent) && received.count == 20)
                    }
                }
                try await group.waitForAll()
            }
        }

        // `fanout stats --json` shows the queue drained.
        #expect(try await eventually {
            let (code, output) = try await FanoutBinary.run(["stats", "--json"] + common)
            guard code == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return false }
            let stats = try JSONDecoder().decode(StatsSnapshot.self, from: Data(line.utf8))
            return stats.lag == 0 && stats.pending == 0 && stats.edges.count == 2 && stats.consumers.count == 2
        })

        // SIGTERM: workers leave the group and exit 0; an edge closes its clients with 1001 and exits 0.
        for worker in workers { #expect(await worker.terminate() == 0) }
        try await withTestClients(3, urls: [urls[0]]) { clients in
            let exit = await edges[0].terminate()
            for client in clients {
                let code = try await client.closeCode()
                #expect(code == 1001)
            }
            #expect(exit == 0)
        }
        #expect(await edges[1].terminate() == 0)
        let summary = try await RedisClient.withTestClient(server) { try await $0.xinfoConsumers("\(prefix):inbound", group: "workers") }
        #expect(summary.isEmpty, "workers should have left the consumer group")
    }

    @Test(arguments: [
        (["worker", "--handler", "nope"], "unknown handler 'nope'"),
        (["edge", "--redis-url", "http://localhost"], "FANOUT_REDIS_URL"),
        (["edge", "--port", "99999"], "FANOUT_PORT"),
        (["worker", "--log-level", "loud"], "FANOUT_LOG_LEVEL"),
    ])
    func badConfigurationExitsNonZeroWithOneClearLine(_ arguments: [String], _ expected: String) async throws {
        let (code, output) = try await FanoutBinary.run(arguments)
        #expect(code != 0)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(expected), "got: \(output)")
    }

    @Test func aPortInUseIsOneClearLine() async throws {
        let server = try await RedisTestServer.shared()
        let port = try RedisTestServer.freePort()
        let first = try FanoutProcess(["edge", "--port", String(port), "--redis-url", server.url])
        #expect(await eventually { await HTTPProbe.status(port: port, path: "/healthz") == 200 })
        let (code, output) = try await FanoutBinary.run(["edge", "--port", String(port), "--redis-url", server.url])
        #expect(code != 0)
        #expect(output.contains("address already in use"), "got: \(output)")
        #expect(await first.terminate() == 0)
    }
}

extension ProcessTests {
    @Test func anIdleTCPConnectionDoesNotHoldAnEdgePastItsShutdownTimeout() async throws {
        let server = try await RedisTestServer.shared()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(
            redisURL: server.url, prefix: TestKeys.uniquePrefix(), port: port, edgeID: "idle", environment: ["FANOUT_SHUTDOWN_TIMEOUT_MS": "1000"])
        // A client that connects and never sends a request (browsers open such spare connections).
        let fd = try LoopbackSocket.connect(port: port)
        defer { close(fd) }
        let start = ContinuousClock.now
        #expect(await edge.terminate(timeout: .seconds(15)) == 0)
        #expect(ContinuousClock.now - start < .seconds(8))
    }
}
