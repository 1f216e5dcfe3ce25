import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import NIOCore
import Synchronization
import Testing

/// Redis high availability end to end: a master, two replicas and three sentinels; an edge and a
/// worker as processes finding the master through the sentinels; clients under steady load while
/// the master is killed with `kill -9`.
@Suite(.serialized) struct SentinelFailoverTests {
    @Test func killingTheMasterUnderLoadLosesNothingAcceptedWithMinReplicas() async throws {
        let setup = try await SentinelTestSetup.start()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(
            redisURL: setup.url, prefix: prefix, port: port, edgeID: "edge0", environment: ["FANOUT_REDIS_MIN_REPLICAS": "1"])
        // Entries the worker read but had not acknowledged when the master died are reclaimed after claimIdle.
        let worker = try FanoutProcess.worker(
            redisURL: setup.url, prefix: prefix, environment: [
                "FANOUT_BLOCK_MS": "200", "FANOUT_CLAIM_IDLE_MS": "1000",
                // The test reads every accepted message back from the new master's stream:
                // processed entries must not be trimmed (issue 18) before it does.
                "FANOUT_TRIM_INTERVAL_MS": "0",
            ])
        let url = "ws://127.0.0.1:\(port)/ws"
        let warm = try await eventually(within: .seconds(20)) { (try? await echo("warm-up", url: url, timeout: .milliseconds(500))) == true }
        try #require(warm, "no echo before the fault; edge log:\n\(edge.log.suffix(3000))\nworker log:\n\(worker.log.suffix(2000))")

        let old = setup.servers[0]
        let phase = SharedCounter()  // 0: steady load on the old master, 1: killed, 3: done
        let timeline = FailoverTimeline()
        let totals = try await withTestClients(20, urls: [url]) { clients in
            try await withThrowingTaskGroup(of: OutageTally.self) { group in
                for (index, client) in clients.enumerated() {
                    // Replies to what was accepted just before and during the failover come after the
                    // workers caught up (and after FANOUT_CLAIM_IDLE_MS for reclaimed entries): a
                    // generous drain, which ends as soon as every message has its answer.
                    group.addTask { try await OutageTally.run(client: client, index: index, drain: .seconds(30), until: { phase.value == 3 }) }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(1))  // steady load before the fault, not a wait for an event
                    timeline.withLock { $0.killedAtMs = Int64(Date().timeIntervalSince1970 * 1000); $0.killed = .now }
                    await old.kill()
                    // Once its port refuses connections the old master is gone: any entry with a
                    // later ID was appended on the new one.
                    timeline.withLock { $0.deadAtMs = Int64(Date().timeIntervalSince1970 * 1000) }
                    phase.store(1)
                    let promoted = await setup.waitForPromotion(from: old)
                    timeline.withLock { $0.promoted = .now }
                    #expect(promoted != nil, "no replica was promoted; sentinel log:\n\(setup.sentinels[0].log.suffix(2000))")
                    // The edge is ready again, and the worker reads the new master (its group there
                    // delivered an entry appended after the kill), each timed on its own.
                    async let edgeFollowed: Void = {
                        _ = await eventually(within: .seconds(15)) { await HTTPProbe.status(port: port, path: "/readyz") == 200 }
                        timeline.withLock { $0.ready = .now }
                    }()
                    async let workerFollowed: Void = {
                        guard let promoted else { return }
                        let killedAtMs = timeline.withLock { $0.killedAtMs }
                        _ = try? await RedisClient.withTestClient(promoted) { (redis: RedisClient) async throws in
                            try await eventually(within: .seconds(15)) {
                                let delivered = try? await redis.xinfoGroups("\(prefix):inbound").first?.lastDeliveredID
                                return (delivered.flatMap { Int64($0.prefix { $0 != "-" }) } ?? 0) >= killedAtMs
                            }
                        }
                        timeline.withLock { $0.workerFollowed = .now }
                    }()
                    _ = await (edgeFollowed, workerFollowed)
                    // Edge and worker both follow: a new client's message is answered via the new master.
                    _ = try await eventually(within: .seconds(15)) { (try? await echo("probe", url: url, timeout: .milliseconds(300))) == true }
                    timeline.withLock { $0.probe = .now }
                    try await Task.sleep(for: .seconds(1))  // steady load on the new master
                    phase.store(3)
                    return OutageTally()
                }
                return try await group.reduce(into: OutageTally()) { $0.add($1) }
            }
        }
        let times = timeline.withLock { $0 }
        let master = try #require(await setup.currentMaster())
        try await RedisClient.withTestClient(master) { (redis: RedisClient) async throws in
            let entries = try await redis.xrange("\(prefix):inbound")
            // Payload → the millisecond its entry was appended (entry IDs are the master's clock).
            let appendedAt = Dictionary(entries.compactMap { entry -> (String, Int64)? in
                guard entry["kind"].map({ String(buffer: $0) }) == "message", let payload = entry["payload"].map({ String(buffer: $0) }),
                    let ms = Int64(entry.id.prefix { $0 != "-" })
                else { return nil }
                return (payload, ms)
            }, uniquingKeysWith: { first, _ in first })
            let missing = totals.accepted.filter { appendedAt[$0] == nil }
            // The one loss pub/sub cannot rule out: a result the old master counted as delivered
            // (so the worker acknowledged the entry, and that replicated) but had not yet written
            // to the edge's socket when it was killed. Only entries handled in the master's last
            // moments qualify: appended within the second before the kill. Anything else
            // unanswered is lost.
            let inLastSecond = totals.unanswered.filter { appendedAt[$0].map { $0 >= times.killedAtMs - 1000 && $0 <= times.deadAtMs } ?? false }
            let lost = Set(missing).union(Set(totals.unanswered).subtracting(inLastSecond)).count
            // The first message XADDed on the new master: entry IDs are its clock in milliseconds.
            let firstAfter = entries.compactMap { entry -> Int64? in
                guard entry["kind"].map({ String(buffer: $0) }) == "message", let ms = Int64(entry.id.prefix { $0 != "-" }) else { return nil }
                return ms > times.deadAtMs ? ms : nil
            }.first
            func since(_ instant: ContinuousClock.Instant?) -> String {
                guard let killed = times.killed, let instant else { return "never" }
                return "\((instant - killed).formatted(.units(allowed: [.milliseconds], width: .narrow)))"
            }
            print("""
                sentinel failover (kill -9 of the master, FANOUT_REDIS_MIN_REPLICAS=1, 20 clients): \
                promoted after \(since(times.promoted)), edge ready after \(since(times.ready)), \
                worker reading the new master after \(since(times.workerFollowed)), first reply to a new client after \(since(times.probe)), \
                first accepted message on the new master \(firstAfter.map { "\($0 - times.killedAtMs) ms" } ?? "never") after the kill; \
                sent \(totals.sent), accepted \(totals.accepted.count), refused \(totals.refused), answered \(totals.replies), \
                lost \(lost) (missing from the new master's stream \(missing.count), accepted but unanswered \(totals.unanswered.count), \
                of which results published by the old master in its last second \(inLastSecond.count)), \
                closed by the edge \(totals.closed)
                """)
            #expect(lost == 0, "missing: \(missing.prefix(5)), unanswered: \(totals.unanswered.prefix(5))")
            #expect(totals.closed == 0, "clients stay connected through the failover")
            #expect(totals.refused > 0, "the failover must have been answered explicitly (unavailable)")
            #expect(firstAfter != nil)
            if let promoted = times.promoted, let ready = times.ready, let worker = times.workerFollowed {
                // The failover time plus one reconnect backoff (at most 2 s), and slack for the other
                // sentinels to learn of the promotion and for a loaded box.
                let bound = Duration.seconds(4)
                let warnings = edge.log.split(separator: "\n").filter { $0.contains("warning") }.suffix(10).joined(separator: "\n")
                #expect(ready - promoted < bound, "the edge followed \(ready - promoted) after the promotion; its warnings:\n\(warnings)")
                #expect(worker - promoted < bound, "the worker followed \(worker - promoted) after the promotion")
            } else {
                Issue.record("the edge or the worker never followed the promotion")
            }
            #expect(try await eventually(within: .seconds(30)) {
                let group = try await redis.xinfoGroups("\(prefix):inbound").first
                return group?.lag == 0 && group?.pending == 0
            }, "the worker carries on from the new master until nothing is left")
        }
        #expect(await worker.terminate() == 0)
        #expect(await edge.terminate() == 0)
        #expect(!edge.log.contains("Fatal error") && !worker.log.contains("Fatal error"))
    }

    @Test func aWrongMasterNameNoReachableSentinelAndADeadMasterAreClearErrorsThatEdgesAndWorkersRetry() async throws {
        let deadPort = try RedisTestServer.freePort()
        let sentinel = try await SentinelTestServer.start(masterName: "ghost", masterPort: deadPort)
        let nowhere = "127.0.0.1:\(try RedisTestServer.freePort())"
        let cases: [(url: String, says: String)] = [
            ("redis-sentinel://\(sentinel.address)/nope", "no sentinel knows a master named 'nope'"),
            ("redis-sentinel://\(nowhere)/ghost", "no sentinel reachable: \(nowhere)"),
            ("redis-sentinel://\(nowhere),\(sentinel.address)/ghost", "master 'ghost' at 127.0.0.1:\(deadPort), as sentinel \(sentinel.address) names it"),
        ]
        for (url, says) in cases {
            let stats = try await FanoutBinary.run(["stats", "--redis-url", url])
            #expect(stats.code == 1 && stats.output.contains(says), "fanout stats: \(stats.output)")
            #expect(!stats.output.contains("Fatal error"))
        }
        // Edges and workers keep retrying (and say why) instead of exiting; the edge is not ready.
        let prefix = TestKeys.uniquePrefix()
        var processes: [(FanoutProcess, String, Int?)] = []
        for (url, says) in cases {
            let port = try RedisTestServer.freePort()
            processes.append((try FanoutProcess(["edge", "--port", String(port), "--redis-url", url, "--key-prefix", prefix]), says, port))
            processes.append((try FanoutProcess.worker(redisURL: url, prefix: prefix), says, nil))
        }
        for (process, says, port) in processes {
            #expect(await eventually(within: .seconds(15)) { process.log.contains(says) }, "not logged (\(says)):\n\(process.log.suffix(1500))")
            if let port { #expect(await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 503 }) }
            #expect(process.child.isRunning)
        }
        for (process, _, _) in processes {
            #expect(await process.terminate() == 0)
            #expect(!process.log.contains("Fatal error"))
        }
    }
}

/// `true` when a new client gets `text` echoed within `timeout` (an error frame or silence: `false`).
private func echo(_ text: String, url: String, timeout: Duration) async throws -> Bool {
    try await withTestClients(1, urls: [url]) { clients in
        try await clients[0].send(text: text)
        return (try? await clients[0].nextText(timeout: timeout)) == text
    }
}

/// When each step of a failover test happened.
final class FailoverTimeline: Sendable {
    struct Times {
        /// Wall-clock milliseconds of the kill, to compare with stream entry IDs.
        var killedAtMs: Int64 = 0
        /// Wall-clock milliseconds once the old master's port refused connections.
        var deadAtMs: Int64 = 0
        var killed, promoted, ready, workerFollowed, probe: ContinuousClock.Instant?
    }
    private let storage = Mutex(Times())
    func withLock<Result>(_ body: (inout Times) -> Result) -> Result { storage.withLock { body(&$0) } }
}
