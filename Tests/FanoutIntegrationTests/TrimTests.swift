import FanoutCore
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Logging
import NIOCore
import Synchronization
import Testing

/// Issue 18 on a real Redis: the workers trim what every group has processed, keep the
/// retention, never trim the backlog or a pending entry, and report entries trimmed unprocessed
/// by anything else as an error and a metric.
///
/// Load goes straight into the stream (`StreamLoad`): the edge is not the point here. Retentions
/// are small so the counts stay small; `~` trimming removes whole radix-tree nodes only, so a
/// stream keeps up to one node (100 entries at Redis's default) beyond what is asked.
@Suite(.serialized) struct TrimTests {
    /// Entries a trimmed stream may keep beyond its retention: one radix-tree node.
    static let nodeSlack = 100

    static func fastTrim(_ retention: Int) -> @Sendable (inout WorkerConfiguration) -> Void {
        { configuration in
            configuration.streamRetention = retention
            configuration.trimInterval = .milliseconds(50)
        }
    }

    static func logger() -> Logger {
        Logger(label: "fanout.test.trim", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// A trimmer on its own, as a worker whose read loop is stopped would have it.
    static func trimmer(
        _ keySpace: KeySpace, _ server: RedisTestServer, _ redis: RedisClient, retention: Int, counters: WorkerCounters
    ) -> StreamTrimmer {
        var configuration = WorkerConfiguration(common: CommonConfiguration(redis: server.configuration, keySpace: keySpace))
        configuration.consumerName = "trimmer"
        configuration.streamRetention = retention
        configuration.trimInterval = .milliseconds(10)
        return StreamTrimmer(configuration: configuration, redis: redis, counters: counters, logger: logger())
    }

    /// Waits out the lease another trimmer took, then runs a pass that holds it.
    static func passHoldingTheLease(_ trimmer: inout StreamTrimmer) async throws -> StreamTrimmer.Report {
        for _ in 0..<100 {
            let report = try await trimmer.pass()
            if report.heldLease { return report }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TestServerError("the trim lease never came free")
    }

    @Test func afterTwoHundredThousandEchoMessagesTheStreamKeepsItsRetentionAndWhatIsInFlight() async throws {
        let retention = 1_000
        let total = 200_000
        let chunk = 2_000
        let start = ContinuousClock.now
        try await TestCluster.run(edges: 0, workers: 2, configureWorker: Self.fastTrim(retention)) { cluster in
            var longest = 0
            var sent = 0
            var loading = Duration.zero
            while sent < total {
                // No backlog: the next chunk goes once the workers have handled the last one.
                let chunkStart = ContinuousClock.now
                try await StreamLoad.pipe(chunk, to: cluster.keySpace, port: cluster.server.port, first: sent)
                loading += ContinuousClock.now - chunkStart
                sent += chunk
                #expect(try await eventually(within: .seconds(60)) { try await StreamLoad.backlog(cluster.keySpace, redis: cluster.redis) == 0 })
                longest = max(longest, try await cluster.redis.xlen(cluster.keySpace.inbound))
            }
            let handled = cluster.workers.map(\.counters.handled).reduce(0, +)
            let trimmed = cluster.workers.map(\.counters.trimmed).reduce(0, +)
            // Once quiet, at most the retention, the marks' spacing and one node remain.
            let bound = retention + retention / 32 + chunk + Self.nodeSlack
            let settled = await eventually(within: .seconds(10)) { (try? await cluster.redis.xlen(cluster.keySpace.inbound)) ?? .max <= bound }
            let length = try await cluster.redis.xlen(cluster.keySpace.inbound)
            let stats = try await StatsSnapshot.collect(redis: cluster.redis, keySpace: cluster.keySpace)
            print("trim: \(total) echo messages through 2 workers in \(ContinuousClock.now - start) (appending: \(loading)): handled \(handled), trimmed \(trimmed), XLEN at chunk ends at most \(longest), XLEN at rest \(length) (retention \(retention), bound \(bound)), used_memory \(stats.usedMemory ?? -1)")
            #expect(handled >= total)
            #expect(settled, "XLEN \(length) > \(bound)")
            #expect(longest <= bound + chunk, "XLEN reached \(longest) during the load")
            #expect(stats.backlog == 0 && stats.streamLength == length && (stats.usedMemory ?? 0) > 0)
            #expect(cluster.workers.map(\.counters.trimmedUnprocessed).reduce(0, +) == 0)
        }
    }

    @Test func aBacklogWithTheWorkersStoppedIsKeptWholeThenDrainedWithNoneTrimmed() async throws {
        let server = try await RedisTestServer.shared()
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        let backlog = 50_000
        let start = ContinuousClock.now
        let ids = try await RedisClient.withTestClient(server) { redis in
            try await redis.xgroupCreate(keySpace.inbound, group: KeySpace.workerGroup, startID: "0")
            try await StreamLoad.pipe(backlog, to: keySpace, port: server.port)
            let ids = try await StreamLoad.ids(keySpace, redis: redis)
            #expect(ids.count == backlog)
            // Workers stopped, trimming on: nothing in the backlog may go.
            let counters = WorkerCounters()
            var trimmer = Self.trimmer(keySpace, server, redis, retention: 100, counters: counters)
            for _ in 0..<3 {
                let report = try await Self.passHoldingTheLease(&trimmer)
                #expect(report.inbound == .keepAll && report.inboundRemoved == 0)
            }
            #expect(try await redis.xlen(keySpace.inbound) == backlog)
            #expect(counters.trimmedUnprocessed == 0)
            return ids
        }
        let appended = ContinuousClock.now
        let recorder = IDRecorder()
        try await TestCluster.run(edges: 0, workers: 2, handler: recorder, keySpace: keySpace, configureWorker: Self.fastTrim(100)) { cluster in
            // While it drains, what is processed goes: the stream is the backlog, the retention
            // (counted back from the read position) and what a pass or two saw processed.
            #expect(try await eventually(within: .seconds(60)) {
                let stats = try await StatsSnapshot.collect(redis: cluster.redis, keySpace: keySpace)
                return (stats.lag ?? 0) > 0 && stats.streamLength <= backlog - 10_000
                    && stats.streamLength <= (stats.backlog ?? 0) + 100 + 5_000
            }, "trimmed during the drain")
            #expect(try await eventually(within: .seconds(120)) { recorder.seen.withLock { $0.count } >= backlog })
            #expect(recorder.seen.withLock { $0 } == Set(ids), "every entry of the backlog was handled")
            #expect(cluster.workers.map(\.counters.trimmedUnprocessed).reduce(0, +) == 0)
            // With no new traffic, the marks the group left while draining locate the retention:
            // to within what one pass (50 ms) saw handled.
            #expect(try await eventually { try await cluster.redis.xlen(keySpace.inbound) <= 100 + backlog / 10 })
            let length = try await cluster.redis.xlen(keySpace.inbound)
            print("trim: backlog of \(backlog) kept whole with the workers stopped, then drained by 2 workers in \(ContinuousClock.now - appended) (appended in \(appended - start)); XLEN now \(length)")
        }
    }

    @Test func aPendingEntryOlderThanTheRetentionIsKeptUntilAcknowledged() async throws {
        let server = try await RedisTestServer.shared()
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        let stuck = try await RedisClient.withTestClient(server) { redis in
            try await redis.xgroupCreate(keySpace.inbound, group: KeySpace.workerGroup, startID: "0")
            let id = try await StreamLoad.append(1, to: keySpace, redis: redis)[0]
            // A consumer takes it and never acknowledges it (a hung worker, say).
            let read = try await redis.xreadgroup(keySpace.inbound, group: KeySpace.workerGroup, consumer: "hung", count: 1, block: nil)
            #expect(read.map(\.id) == [id])
            return id
        }
        try await TestCluster.run(edges: 0, workers: 1, keySpace: keySpace, configureWorker: { configuration in
            Self.fastTrim(10)(&configuration)
            configuration.streamRetentionAge = .milliseconds(100)
            configuration.claimIdle = .seconds(600)  // nobody reclaims it during the test
        }) { cluster in
            // Paced, so each 50 ms pass sees at most one chunk of progress (the marks' precision).
            try await StreamLoad.append(3_000, to: keySpace, redis: cluster.redis, chunk: 100, pause: .milliseconds(60))
            #expect(await eventually(within: .seconds(30)) { cluster.workers[0].counters.handled >= 3_000 })
            try await Task.sleep(for: .milliseconds(500))  // older than the 100 ms window too, and many passes later
            #expect(try await cluster.redis.xrange(keySpace.inbound, start: stuck, end: stuck).map(\.id) == [stuck])
            #expect(try await cluster.redis.xlen(keySpace.inbound) == 3_001, "nothing from the pending entry on was trimmed")
            _ = try await cluster.redis.xack(keySpace.inbound, group: KeySpace.workerGroup, ids: [stuck])
            #expect(try await eventually { try await cluster.redis.xlen(keySpace.inbound) <= 10 + 100 + Self.nodeSlack })
            #expect(try await cluster.redis.xrange(keySpace.inbound, start: stuck, end: stuck).isEmpty)
        }
    }

    @Test func aPendingEntryIsKeptUntilDeadLetteredAndDeadLettersKeepTheirOwnRetention() async throws {
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        try await TestCluster.run(edges: 0, workers: 1, handler: PoisonHandler(), keySpace: keySpace, configureWorker: { configuration in
            Self.fastTrim(10)(&configuration)
            configuration.claimIdle = .seconds(4)  // first delivery fails at once; the second, after 4 s, dead-letters
            configuration.maxDeliveries = 2
            configuration.deadLetterRetention = 5
        }) { cluster in
            let poison = try await StreamLoad.append(1, to: keySpace, redis: cluster.redis, payload: { _ in "poison" })[0]
            try await StreamLoad.append(2_000, to: keySpace, redis: cluster.redis, chunk: 100, pause: .milliseconds(60))
            #expect(await eventually(within: .seconds(30)) { cluster.workers[0].counters.handled >= 2_000 })
            // Failed once and pending, so still there — and everything after it — however far behind the retention.
            // The last batch's XACK trails its handling by one write (decision 0006): wait for it.
            #expect(try await eventually {
                let pending = try await cluster.redis.xpendingSummary(keySpace.inbound, group: KeySpace.workerGroup)
                return pending.count == 1 && pending.smallestID == poison
            })
            #expect(try await cluster.redis.xrange(keySpace.inbound, start: poison, end: poison).count == 1)
            #expect(try await cluster.redis.xlen(keySpace.inbound) == 2_001)
            #expect(try await eventually(within: .seconds(10)) { try await cluster.redis.xlen(keySpace.deadLetters) == 1 })
            #expect(try await eventually { try await cluster.redis.xlen(keySpace.inbound) <= 10 + 100 + Self.nodeSlack })
            #expect(try await cluster.redis.xrange(keySpace.inbound, start: poison, end: poison).isEmpty)
            #expect(cluster.workers[0].counters.trimmedUnprocessed == 0)
            // The dead letters' own retention (5), with the node slack of `~`.
            for _ in 0..<300 { _ = try await cluster.redis.xadd(keySpace.deadLetters, fields: [("reason", ByteBuffer(string: "test"))]) }
            #expect(try await eventually { try await cluster.redis.xlen(keySpace.deadLetters) <= 5 + Self.nodeSlack })
        }
    }

    @Test func entriesTrimmedBeforeDeliveryAreAnErrorAndAMetricOnce() async throws {
        let server = try await RedisTestServer.shared()
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        try await RedisClient.withTestClient(server) { redis in
            try await redis.xgroupCreate(keySpace.inbound, group: KeySpace.workerGroup, startID: "0")
            try await StreamLoad.append(300, to: keySpace, redis: redis)
            let read = try await redis.xreadgroup(keySpace.inbound, group: KeySpace.workerGroup, consumer: "w", count: 50, block: nil)
            _ = try await redis.xack(keySpace.inbound, group: KeySpace.workerGroup, ids: read.map(\.id))
            // The emergency cap (or someone by hand) cuts into the 250 not yet delivered.
            _ = try await redis.send(.xtrim(keySpace.inbound, maxLength: 100, approximate: false))
            let counters = WorkerCounters()
            var trimmer = Self.trimmer(keySpace, server, redis, retention: 10, counters: counters)
            let report = try await Self.passHoldingTheLease(&trimmer)
            #expect(report.lostBeforeDelivery == [KeySpace.workerGroup: 150])
            #expect(report.inbound == .keepAll, "what is left is still unprocessed")
            #expect(counters.trimmedUnprocessed == 150)
            // Reported once: the count is kept in Redis for every worker.
            let otherCounters = WorkerCounters()
            var other = Self.trimmer(keySpace, server, redis, retention: 10, counters: otherCounters)
            try await Task.sleep(for: .milliseconds(20))
            #expect(try await Self.passHoldingTheLease(&other).lostBeforeDelivery.isEmpty)
            #expect(otherCounters.trimmedUnprocessed == 0)
            #expect(try await redis.send(RedisCommand("HGET", [keySpace.trimLost, KeySpace.workerGroup])).int == 150)
        }
    }

    @Test func pendingEntriesTrimmedBeforeAcknowledgementAreAnErrorAndAMetric() async throws {
        let server = try await RedisTestServer.shared()
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        try await RedisClient.withTestClient(server) { redis in
            try await redis.xgroupCreate(keySpace.inbound, group: KeySpace.workerGroup, startID: "0")
            try await StreamLoad.append(300, to: keySpace, redis: redis)
            _ = try await redis.xreadgroup(keySpace.inbound, group: KeySpace.workerGroup, consumer: "died", count: 40, block: nil)
            _ = try await redis.send(.xtrim(keySpace.inbound, maxLength: 200, approximate: false))  // 40 pending, 60 undelivered go
        }
        try await TestCluster.run(edges: 0, workers: 1, keySpace: keySpace, configureWorker: { configuration in
            configuration.claimIdle = .seconds(2)  // XAUTOCLAIM reports removed entries whatever their idle time; it runs every second
        }) { cluster in
            #expect(await eventually { cluster.workers[0].counters.trimmedUnprocessed == 40 + 60 })
            #expect(try await eventually { cluster.workers[0].counters.handled >= 200 })
        }
    }
}

/// Echoes nothing; records every entry ID it handled.
final class IDRecorder: MessageHandler {
    let seen = Mutex(Set<String>())

    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        _ = seen.withLock { $0.insert(message.id) }
    }
}
