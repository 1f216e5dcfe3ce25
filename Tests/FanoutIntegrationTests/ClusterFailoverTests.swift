import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import Logging
import NIOCore
import Testing

/// A shard's failover end to end: 3 masters with a replica each, six inbound partitions, an edge
/// and a worker as processes on `redis-cluster://`, clients under steady load while one master is
/// killed with `kill -9`. Counted as the Sentinel failover test counts (`SentinelFailoverTests`).
@Suite(.serialized) struct ClusterFailoverTests {
    @Test func killingAMasterUnderLoadPromotesItsReplicaAndLosesNothingAccepted() async throws {
        let setup = try await RedisClusterTestSetup.start(masters: 3, replicasPerMaster: 1)
        let prefix = TestKeys.uniquePrefix()
        let keySpace = KeySpace(prefix: prefix, partitions: 6, cluster: true)
        let port = try RedisTestServer.freePort()
        let environment = ["FANOUT_STREAM_PARTITIONS": "6"]
        let edge = try await FanoutProcess.edge(
            redisURL: setup.url, prefix: prefix, port: port, edgeID: "edge0",
            environment: environment.merging(["FANOUT_REDIS_MIN_REPLICAS": "1"]) { $1 })
        let worker = try FanoutProcess.worker(
            redisURL: setup.url, prefix: prefix, environment: environment.merging(["FANOUT_BLOCK_MS": "200", "FANOUT_CLAIM_IDLE_MS": "1000"]) { $1 })
        let url = "ws://127.0.0.1:\(port)/ws"
        let warm = await eventually(within: .seconds(20)) { (try? await clusterEcho("warm-up", url: url, timeout: .milliseconds(500))) == true }
        try #require(warm, "no echo before the fault; edge log:\n\(edge.log.suffix(3000))\nworker log:\n\(worker.log.suffix(2000))")

        // The master of slot 0: partitions 0 and 1 and a third of the channels live there.
        let slot = HashSlot(0)
        let old = try #require(await setup.master(serving: slot))
        let phase = SharedCounter()
        let timeline = FailoverTimeline()
        let totals = try await withTestClients(20, urls: [url]) { clients in
            try await withThrowingTaskGroup(of: OutageTally.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask { try await OutageTally.run(client: client, index: index, drain: .seconds(30), until: { phase.value == 3 }) }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(1))  // steady load before the fault, not a wait for an event
                    timeline.withLock { $0.killedAtMs = Int64(Date().timeIntervalSince1970 * 1000); $0.killed = .now }
                    await old.kill()
                    timeline.withLock { $0.deadAtMs = Int64(Date().timeIntervalSince1970 * 1000) }
                    phase.store(1)
                    let promoted = await setup.waitForPromotion(of: slot, from: old)
                    timeline.withLock { $0.promoted = .now }
                    #expect(promoted != nil, "no replica took over slot 0")
                    _ = await eventually(within: .seconds(15)) { await HTTPProbe.status(port: port, path: "/readyz") == 200 }
                    timeline.withLock { $0.ready = .now }
                    _ = await eventually(within: .seconds(15)) { (try? await clusterEcho("probe", url: url, timeout: .milliseconds(300))) == true }
                    timeline.withLock { $0.probe = .now }
                    try await Task.sleep(for: .seconds(1))  // steady load on the new master
                    phase.store(3)
                    return OutageTally()
                }
                return try await group.reduce(into: OutageTally()) { $0.add($1) }
            }
        }
        let times = timeline.withLock { $0 }
        try await RedisClient.withConnectedClient(configuration: setup.configuration, logger: .init(label: "test"), timeout: .seconds(10)) { redis in
            // Payload → the millisecond its entry was appended (entry IDs are the masters' clock).
            var appendedAt: [String: Int64] = [:]
            for stream in keySpace.inboundStreams {
                for entry in try await redis.xrange(stream) where entry["kind"].map({ String(buffer: $0) }) == "message" {
                    if let payload = entry["payload"].map({ String(buffer: $0) }), let ms = Int64(entry.id.prefix { $0 != "-" }) {
                        appendedAt[payload] = appendedAt[payload] ?? ms
                    }
                }
            }
            let missing = totals.accepted.filter { appendedAt[$0] == nil }
            // As in the Sentinel test: the one loss pub/sub cannot rule out is a result the old
            // master counted as delivered but had not yet written to the edge when it was killed.
            let inLastSecond = totals.unanswered.filter { appendedAt[$0].map { $0 >= times.killedAtMs - 1000 && $0 <= times.deadAtMs } ?? false }
            let lost = Set(missing).union(Set(totals.unanswered).subtracting(inLastSecond)).count
            func since(_ instant: ContinuousClock.Instant?) -> String {
                guard let killed = times.killed, let instant else { return "never" }
                return "\((instant - killed).formatted(.units(allowed: [.milliseconds], width: .narrow)))"
            }
            print("""
                cluster failover (kill -9 of one of 3 masters, 6 partitions, FANOUT_REDIS_MIN_REPLICAS=1, 20 clients): \
                replica promoted after \(since(times.promoted)), edge ready after \(since(times.ready)), first reply to a new client after \(since(times.probe)); \
                sent \(totals.sent), accepted \(totals.accepted.count), refused \(totals.refused), answered \(totals.replies), \
                lost \(lost) (missing from the streams \(missing.count), accepted but unanswered \(totals.unanswered.count), \
                of which results published by the old master in its last second \(inLastSecond.count)), closed by the edge \(totals.closed)
                """)
            #expect(lost == 0, "missing: \(missing.prefix(5)), unanswered: \(totals.unanswered.prefix(5)); edge log:\n\(edge.log.suffix(6000))\nworker log:\n\(worker.log.suffix(6000))")
            #expect(totals.closed == 0, "clients stay connected through the failover")
            #expect(totals.refused > 0, "the failover must have been answered explicitly (unavailable)")
            #expect(try await eventually(within: .seconds(30)) {
                let stats = try await StatsSnapshot.collect(redis: redis, keySpace: keySpace)
                return stats.lag == 0 && stats.pending == 0
            }, "the worker carries on until nothing is left in any partition")
        }
        #expect(await worker.terminate() == 0)
        #expect(await edge.terminate() == 0)
        #expect(!edge.log.contains("Fatal error") && !worker.log.contains("Fatal error"))
    }
}

/// `true` when a new client gets `text` echoed within `timeout`.
private func clusterEcho(_ text: String, url: String, timeout: Duration) async throws -> Bool {
    try await withTestClients(1, urls: [url]) { clients in
        try await clients[0].send(text: text)
        return (try? await clients[0].nextText(timeout: timeout)) == text
    }
}
