import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import NIOCore
import Testing

/// Operating Fanout: metrics, health, HAProxy's agent-check, and the local HAProxy topology.
@Suite(.serialized) struct OperationsTests {
    @Test func metricsExposeEveryFamilyAndMoveWithTraffic() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort(), metricsPort = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0",
            environment: ["FANOUT_LAG_SAMPLE_MS": "50"])
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, metricsPort: metricsPort)
        #expect(await eventually { await HTTPProbe.status(port: metricsPort, path: "/readyz") == 200 })
        let edgeBefore = try await HTTPGet.body(port: port, path: "/metrics")
        let workerBefore = try await HTTPGet.body(port: metricsPort, path: "/metrics")
        try await withTestClients(3, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            for client in clients {
                for index in 0..<10 { try await client.send(text: "m\(index)") }
                for _ in 0..<10 { _ = try await client.nextText() }
            }
        }
        let moving = [
            "fanout_edge_messages_in_total", "fanout_edge_messages_out_total", "fanout_edge_bytes_in_total", "fanout_edge_bytes_out_total",
            "fanout_edge_xadd_duration_seconds_count", "fanout_edge_end_to_end_latency_seconds_count", "fanout_redis_write_batch_commands_count",
        ]
        #expect(try await eventually {
            let after = try await HTTPGet.body(port: port, path: "/metrics")
            return moving.allSatisfy { (metricValue(after, $0) ?? 0) > (metricValue(edgeBefore, $0) ?? 0) }
        }, "edge families that must move: \(moving)")
        let edgeAfter = try await HTTPGet.body(port: port, path: "/metrics")
        for present in [
            "fanout_edge_connections", "fanout_stream_length", "fanout_stream_lag", "fanout_stream_pending", "fanout_stream_backlog",
            "fanout_redis_used_memory_bytes", "fanout_edge_slow_consumer_closes_total",
        ] {
            #expect(metricValue(edgeAfter, present) != nil, "edge metric \(present) missing")
        }
        // Sampled every 50 ms: 3 opens + 30 messages (+ closes) reach it shortly.
        #expect(try await eventually { (metricValue(try await HTTPGet.body(port: port, path: "/metrics"), "fanout_stream_length") ?? 0) >= 33 })
        let workerAfter = try await HTTPGet.body(port: metricsPort, path: "/metrics")
        for name in ["fanout_worker_handled_total", "fanout_worker_handler_duration_seconds_count"] {
            #expect((metricValue(workerAfter, name) ?? 0) > (metricValue(workerBefore, name) ?? 0), "\(name) did not move")
        }
        #expect(try await eventually { (metricValue(try await HTTPGet.body(port: port, path: "/metrics"), "fanout_redis_used_memory_bytes") ?? 0) > 0 })
        for present in [
            "fanout_worker_reclaimed_total", "fanout_worker_dead_lettered_total", "fanout_worker_undeliverable_total",
            "fanout_stream_trimmed_total", "fanout_stream_trimmed_unprocessed_total",
        ] {
            #expect(metricValue(workerAfter, present) != nil, "worker metric \(present) missing")
        }
        #expect(!edgeAfter.contains(prefix) && !edgeAfter.contains("edge0."), "no IDs in labels")
        _ = await worker.terminate()
        _ = await edge.terminate()
    }

    /// With a linger set, the edge (its XADD writes: `linger="write"`) and the worker (its reads:
    /// `linger="read"`) count their governors' 100 ms windows by mode; with none set, nothing.
    @Test func lingerDecisionsAreExportedWhereALingerIsSet() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort(), metricsPort = try RedisTestServer.freePort()
        let lingerPort = try RedisTestServer.freePort(), lingerMetricsPort = try RedisTestServer.freePort()
        let lingerPrefix = TestKeys.uniquePrefix()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0")
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, metricsPort: metricsPort)
        let lingerEdge = try await FanoutProcess.edge(redisURL: server.url, prefix: lingerPrefix, port: lingerPort, edgeID: "edge1",
            environment: ["FANOUT_APPEND_LINGER_US": "500"])
        let lingerWorker = try FanoutProcess.worker(redisURL: server.url, prefix: lingerPrefix, metricsPort: lingerMetricsPort,
            environment: ["FANOUT_BATCH_LINGER_MS": "1"])
        @Sendable func windows(_ port: Int, _ linger: String) async throws -> Double {
            let body = try await HTTPGet.body(port: port, path: "/metrics")
            return body.split(separator: "\n")
                .filter { $0.hasPrefix("fanout_linger_windows_total{") && $0.contains("linger=\"\(linger)\"") }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
                .reduce(0, +)
        }
        #expect(await eventually { await HTTPProbe.status(port: lingerMetricsPort, path: "/readyz") == 200 })
        #expect(await eventually { await HTTPProbe.status(port: metricsPort, path: "/readyz") == 200 })
        // A window closes with the first write (edge) or read (worker) at least 100 ms after it
        // opened: echo on both pipelines until both governors have closed some.
        try await withTestClients(1, urls: ["ws://127.0.0.1:\(lingerPort)/ws"]) { lingering in
            try await withTestClients(1, urls: ["ws://127.0.0.1:\(port)/ws"]) { plain in
                let deadline = ContinuousClock.now + .seconds(20)
                var (index, counted) = (0, false)
                while !counted, ContinuousClock.now < deadline {
                    index += 1
                    for client in [lingering[0], plain[0]] {
                        try await client.send(text: "m\(index)")
                        #expect(try await client.nextText() == "m\(index)")
                    }
                    let (write, read) = (try await windows(lingerPort, "write"), try await windows(lingerMetricsPort, "read"))
                    counted = write >= 2 && read >= 2
                }
                #expect(counted, "after \(index) echoes")
            }
        }
        #expect(try await windows(port, "write") == 0, "no linger set on this edge: no governor counts")
        #expect(try await windows(metricsPort, "read") == 0, "no linger set on this worker: no governor counts")
        for process in [lingerWorker, worker, lingerEdge, edge] { _ = await process.terminate() }
    }

    @Test func anEdgeWhoseHighWaterIsNotBelowTheStreamCapRefusesToStartWithOneLine() async throws {
        let (code, output) = try await FanoutBinary.run(["edge", "--port", "0"], environment: [
            "FANOUT_MAX_STREAM_LENGTH": "50000", "FANOUT_OVERLOAD_HIGH_WATER": "100000", "FANOUT_REDIS_URL": "redis://127.0.0.1:1",
        ])
        #expect(code == 1)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("fanout edge: FANOUT_OVERLOAD_HIGH_WATER (100000) must be below FANOUT_MAX_STREAM_LENGTH (50000)"), "\(output)")
    }

    @Test func readinessFollowsRedisAndDrainingAndTheAgentAnswersWithItsState() async throws {
        let server = try await RedisTestServer.start()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort(), agentPort = try RedisTestServer.freePort(), metricsPort = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0", environment: [
            "FANOUT_AGENT_PORT": String(agentPort), "FANOUT_MAX_CONNECTIONS": "10", "FANOUT_DRAIN_DELAY_MS": "2000",
        ])
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, metricsPort: metricsPort)
        #expect(await eventually { await HTTPProbe.status(port: metricsPort, path: "/readyz") == 200 })
        #expect(try await HTTPGet.line(port: agentPort) == "up ready 100%")
        try await withTestClients(5, urls: ["ws://127.0.0.1:\(port)/ws"]) { _ in
            // The weight falls as connections approach FANOUT_MAX_CONNECTIONS (10). A client can
            // see its 101 a moment before the edge has counted it (the handler is added once the
            // response is written), hence `eventually`.
            #expect(try await eventually { try await HTTPGet.line(port: agentPort) == "up ready 50%" })
            try await withTestClients(5, urls: ["ws://127.0.0.1:\(port)/ws"]) { (_: [TestClient]) async throws in
                #expect(try await eventually { try await HTTPGet.line(port: agentPort) == "up ready 1%" })
                // At the limit, an upgrade is refused with 503.
                #expect(await HTTPProbe.status(port: port, path: "/ws") != 200)
            }
        }
        // Redis down: both roles report not ready; the agent says down.
        await server.kill()
        #expect(await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 503 })
        #expect(await eventually { await HTTPProbe.status(port: metricsPort, path: "/readyz") == 503 })
        #expect(try await HTTPGet.line(port: agentPort) == "down")
        try await server.restart()
        #expect(await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 200 })
        #expect(await eventually { await HTTPProbe.status(port: metricsPort, path: "/readyz") == 200 })
        // Draining: readiness goes false and the agent says drain while open connections are still served.
        edge.child.send(SIGTERM)
        #expect(await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 503 })
        #expect(try await HTTPGet.line(port: agentPort) == "drain")
        #expect(await edge.child.waitForExit(timeout: .seconds(20)) == 0)
        _ = await worker.terminate()
        await server.stop()
    }

    @Test func localHAProxySpreadsByLeastConnectionsAndSendsNothingToADrainingEdge() async throws {
        guard let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("haproxy is not installed: scripts/test.sh installs it")
            return
        }
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let lbPort = try RedisTestServer.freePort(), statsPort = try RedisTestServer.freePort()
        let ports = [try RedisTestServer.freePort(), try RedisTestServer.freePort()]
        let agentPorts = [try RedisTestServer.freePort(), try RedisTestServer.freePort()]
        var started: [FanoutProcess] = []
        for index in 0..<2 {
            started.append(try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: ports[index], edgeID: "edge\(index)", environment: [
                "FANOUT_AGENT_PORT": String(agentPorts[index]), "FANOUT_DRAIN_DELAY_MS": "4000",
            ]))
        }
        let edges = started
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let template = try String(contentsOf: root.appendingPathComponent("Config/haproxy.local.cfg.template"), encoding: .utf8)
        let servers = (0..<2).map {
            "    server edge\($0) 127.0.0.1:\(ports[$0]) check inter 500ms agent-check agent-port \(agentPorts[$0]) agent-inter 300ms weight 100"
        }.joined(separator: "\n")
        let config = template.replacingOccurrences(of: "{{LB_PORT}}", with: String(lbPort))
            .replacingOccurrences(of: "{{STATS_PORT}}", with: String(statsPort))
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) == "{{SERVERS}}" ? servers : String($0) }.joined(separator: "\n")
        let configPath = FileManager.default.temporaryDirectory.appendingPathComponent("haproxy-\(lbPort).cfg").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let lb = try ChildProcess(executable: haproxy, arguments: ["-db", "-f", configPath], outputPath: configPath + ".log")
        defer { lb.send(SIGKILL) }
        #expect(await eventually { await HTTPProbe.status(port: lbPort, path: "/readyz") == 200 })
        let url = "ws://127.0.0.1:\(lbPort)/ws"
        let perEdge: @Sendable () async throws -> [Int] = {
            try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws -> [Int] in
                var counts: [Int] = []
                for index in 0..<2 { counts.append(Int(try await redis.send(.scard("\(prefix):edge:edge\(index):conns")).int ?? 0)) }
                return counts
            }
        }
        try await withTestClients(20, urls: [url]) { _ in
            // Registration in Redis follows the handshake by a moment.
            _ = try await eventually { try await perEdge().reduce(0, +) == 20 }
            let spread = try await perEdge()
            print("operations: 20 connections through HAProxy leastconn: \(spread)")
            #expect(spread.reduce(0, +) == 20 && spread.allSatisfy { $0 >= 8 })
            // edge0 drains (SIGTERM with a 4 s drain delay): it keeps its connections for now, but
            // HAProxy must send every new one to edge1.
            edges[0].child.send(SIGTERM)
            #expect(await eventually { await HTTPProbe.status(port: ports[0], path: "/readyz") == 503 })
            try await Task.sleep(for: .milliseconds(800))  // two agent/health intervals, for HAProxy to act on it
            try await withTestClients(10, urls: [url]) { _ in
                _ = try await eventually { try await perEdge().reduce(0, +) == 30 }
                let after = try await perEdge()
                print("operations: after edge0 started draining, 10 more connections: \(after)")
                #expect(after[1] == spread[1] + 10, "the draining edge must receive no new connection")
            }
        }
        _ = await edges[0].child.waitForExit(timeout: .seconds(20))
        _ = await edges[1].terminate()
        _ = await worker.terminate()
    }
}

extension OperationsTests {
    @Test func jsonLogsAreOneObjectPerLineWithIDsAsMetadataAndNoPayloads() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "logged", environment: [
            "FANOUT_LOG_FORMAT": "json", "FANOUT_LOG_LEVEL": "trace",
        ])
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, environment: ["FANOUT_LOG_FORMAT": "json", "FANOUT_LOG_LEVEL": "trace"])
        try await withTestClients(1, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            try await clients[0].send(text: "payload-that-must-not-be-logged")
            #expect(try await clients[0].nextText() == "payload-that-must-not-be-logged")
        }
        _ = await worker.terminate()
        _ = await edge.terminate()
        for log in [edge.log, worker.log] {
            let lines = log.split(separator: "\n")
            #expect(!lines.isEmpty)
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["level"] is String && object?["msg"] is String, "not a JSON log line: \(line.prefix(200))")
            }
            #expect(!log.contains("payload-that-must-not-be-logged"))
        }
        #expect(edge.log.contains(#""fanout.edge":"logged""#))
        #expect(edge.log.contains(#""fanout.conn":"logged."#))
    }
}
