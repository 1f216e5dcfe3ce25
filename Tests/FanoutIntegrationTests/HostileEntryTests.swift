import FanoutCore
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Foundation
import NIOCore
import Testing

/// Entries nobody's edge wrote: appended by hand with the real `redis-cli XADD` — fields missing,
/// of the wrong type, or garbage bytes. Each is dead-lettered with its original ID and fields and
/// a specific reason; nothing stays pending; the same worker keeps serving real clients.
@Suite(.serialized) struct HostileEntryTests {
    /// One hand-written entry and the reason the worker must give (after `malformed entry: `).
    struct Case: Sendable, CustomStringConvertible {
        let description: String
        /// Field names and values, alternating, as bytes.
        let fields: [[UInt8]]
        let reason: String
    }

    /// A well-formed `message` entry, as an edge would write it.
    static let valid: [(String, [UInt8])] = [
        ("v", b("1")), ("kind", b("message")), ("conn", b("hand.c1")), ("edge", b("hand")), ("type", b("text")),
        ("at", b("1700000000000000")), ("payload", b("hi")),
    ]

    static func b(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// `valid` with `changes` applied: a value replaces the field's, `nil` removes the field, and a
    /// name that is not in `valid` is appended.
    static func entry(_ changes: [(String, [UInt8]?)]) -> [[UInt8]] {
        var fields = valid.map { ($0.0, Optional($0.1)) }
        for (name, value) in changes {
            if let index = fields.firstIndex(where: { $0.0 == name }) { fields[index].1 = value } else { fields.append((name, value)) }
        }
        return fields.compactMap { name, value in value.map { [b(name), $0] } }.flatMap { $0 }
    }

    /// Random field names and values (1–32 bytes each, any byte: NUL, CR/LF, invalid UTF-8), from a fixed seed.
    static func garbage(seed: UInt64, pairs: Int) -> [[UInt8]] {
        var random = SeededRandom(seed: seed)
        return (0..<(pairs * 2)).map { _ in random.bytes(Int.random(in: 2...32, using: &random)) }
    }

    static let cases: [Case] = [
        // Missing fields.
        Case(description: "a single unknown field", fields: [b("x"), b("y")], reason: "missing field 'v'"),
        Case(description: "only a payload", fields: [b("payload"), b("hi")], reason: "missing field 'v'"),
        Case(description: "no kind", fields: entry([("kind", nil)]), reason: "missing field 'kind'"),
        Case(description: "no conn", fields: entry([("conn", nil)]), reason: "missing field 'conn'"),
        Case(description: "no edge", fields: entry([("edge", nil)]), reason: "missing field 'edge'"),
        Case(description: "no at", fields: entry([("at", nil)]), reason: "missing field 'at'"),
        Case(description: "no payload", fields: entry([("payload", nil)]), reason: "missing field 'payload'"),
        // Wrong types and values.
        Case(description: "kind=bogus", fields: entry([("kind", b("bogus"))]), reason: "field 'kind' is not message, open or close"),
        Case(description: "v=99", fields: entry([("v", b("99"))]), reason: "unsupported format version '99'"),
        Case(description: "at=notanumber", fields: entry([("at", b("notanumber"))]), reason: "field 'at' is not a timestamp"),
        Case(description: "at negative", fields: entry([("at", b("-1"))]), reason: "field 'at' is not a timestamp"),
        Case(description: "at beyond Int64", fields: entry([("at", b("99999999999999999999"))]), reason: "field 'at' is not a timestamp"),
        Case(description: "type=bogus", fields: entry([("type", b("bogus"))]), reason: "field 'type' is not text or binary"),
        Case(description: "conn with key and glob characters", fields: entry([("conn", b("hand.c1:*?"))]),
            reason: "field 'conn' is not a valid connection ID"),
        Case(description: "conn without an edge part", fields: entry([("conn", b("c1"))]), reason: "field 'conn' is not a valid connection ID"),
        Case(description: "conn with an empty edge part", fields: entry([("conn", b(".c1"))]), reason: "field 'conn' is not a valid connection ID"),
        Case(description: "conn of 200 characters", fields: entry([("conn", b("hand." + String(repeating: "c", count: 195)))]),
            reason: "field 'conn' is not a valid connection ID"),
        Case(description: "edge of 100 characters", fields: entry([("edge", b(String(repeating: "e", count: 100)))]),
            reason: "field 'edge' is not a valid edge ID"),
        Case(description: "user with a space", fields: entry([("user", b("alice smith"))]), reason: "field 'user' is not a valid user ID"),
        // Oversized values: the reason quotes at most 16 characters of what it rejects.
        Case(description: "v of 1 MiB", fields: entry([("v", b(String(repeating: "9", count: 1 << 20)))]),
            reason: "unsupported format version '\(String(repeating: "9", count: 16))'"),
        Case(description: "kind of 64 KiB", fields: entry([("kind", b(String(repeating: "k", count: 1 << 16)))]),
            reason: "field 'kind' is not message, open or close"),
        // Garbage bytes.
        Case(description: "v not UTF-8", fields: entry([("v", [0xFF])]), reason: "unsupported format version '?'"),
        // A value quoted in a reason cannot forge a log line or carry control bytes.
        Case(description: "v with a forged log line", fields: entry([("v", b("1\nerror: forged\u{1B}[2J"))]),
            reason: "unsupported format version '1?error: forged?'"),
        Case(description: "kind not UTF-8", fields: entry([("kind", [0xC3, 0x28])]), reason: "field 'kind' is not message, open or close"),
        Case(description: "text payload not UTF-8", fields: entry([("payload", [0xFF, 0xFE, 0x00, 0x80])]), reason: "text payload is not valid UTF-8"),
        Case(description: "NUL inside conn", fields: entry([("conn", [0x68, 0x2E, 0x00, 0x63])]), reason: "field 'conn' is not a valid connection ID"),
        Case(description: "random binary names and values", fields: garbage(seed: 6, pairs: 8), reason: "missing field 'v'"),
        Case(description: "binary names beside valid fields", fields: entry([("kind", b("?"))]) + garbage(seed: 7, pairs: 3),
            reason: "field 'kind' is not message, open or close"),
        // An entry that brings its own verdict: the worker's reason must be the one read first.
        Case(description: "a forged reason field", fields: entry([("type", b("bogus")), ("reason", b("all good")), ("deliveries", b("0"))]),
            reason: "field 'type' is not text or binary"),
    ]

    /// XADDs every case with `redis-cli`; returns the entry IDs it printed, in order.
    static func appendAll(port: Int, stream: String, password: String? = nil) async throws -> [String] {
        var ids: [String] = []
        for hostile in cases {
            let output = try await RedisCLI.run(port: port, password: password, [b("XADD"), b(stream), b("*")] + hostile.fields)
            #expect(output.code == 0 && output.text.wholeMatch(of: /[0-9]+-[0-9]+/) != nil, "\(hostile): redis-cli said \(output.text)")
            ids.append(output.text)
        }
        return ids
    }

    /// Every case is in `<prefix>:dead` once, under its own entry ID, with its reason and its fields byte for byte.
    static func expectDeadLettered(ids: [String], consumer: String, redis: RedisClient, keySpace: KeySpace) async throws {
        #expect(try await eventually(within: .seconds(30)) { try await redis.xlen(keySpace.deadLetters) == cases.count })
        let letters = try await redis.xrange(keySpace.deadLetters).map { entry in
            let letter = DeadLetter(entry)
            #expect(letter != nil, "dead letter \(entry.id) does not start with the worker's fields")
            return letter
        }.compactMap { $0 }
        #expect(letters.count == cases.count)
        let byID = Dictionary(letters.map { ($0.entryID, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byID.count == cases.count, "each entry is dead-lettered exactly once")
        for (hostile, id) in zip(cases, ids) {
            guard let letter = byID[id] else {
                Issue.record("\(hostile): no dead letter for \(id)")
                continue
            }
            #expect(letter.reason == "malformed entry: \(hostile.reason)", "\(hostile)")
            #expect(letter.originalBytes == hostile.fields, "\(hostile): the original fields are not kept byte for byte")
            #expect(letter.deliveries == 1 && letter.consumer == consumer, "\(hostile)")
        }
        // All acknowledged (acks are batched, so give them a moment); the inbound entries stay.
        #expect(try await eventually { try await redis.xpendingSummary(keySpace.inbound, group: KeySpace.workerGroup).count == 0 })
        #expect(try await redis.xlen(keySpace.inbound) >= cases.count)
    }

    @Test func handWrittenEntriesAreDeadLetteredWithTheirReasonAndTheWorkerKeepsServing() async throws {
        try await TestCluster.run(edges: 1, workers: 1) { cluster in
            let ids = try await Self.appendAll(port: cluster.server.port, stream: cluster.keySpace.inbound)
            try await Self.expectDeadLettered(ids: ids, consumer: "worker-0", redis: cluster.redis, keySpace: cluster.keySpace)
            let counters = cluster.workers[0].counters
            #expect(counters.deadLettered == Self.cases.count && counters.failed == 0 && counters.handled == 0)

            // The same worker still serves a real client.
            try await withTestClients(1, urls: cluster.urls) { clients in
                try await clients[0].send(text: "still serving")
                #expect(try await clients[0].nextText() == "still serving")
                try await clients[0].send(binary: ByteBuffer(bytes: [0xFF, 0x00, 0xFE]))
                let (type, bytes) = try await clients[0].nextMessage()
                #expect(type == .binary && Array(bytes.readableBytesView) == [0xFF, 0x00, 0xFE])
            }
            #expect(counters.handled >= 2 && counters.deadLettered == Self.cases.count)
            #expect(cluster.workers[0].isReady)
        }
    }

    @Test func aWorkerProcessDeadLettersHandWrittenEntriesAndKeepsRunningAndServing() async throws {
        let server = try await RedisTestServer.shared()
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        let metricsPort = try RedisTestServer.freePort()
        let worker = try FanoutProcess.worker(
            redisURL: server.url, prefix: keySpace.prefix, consumerName: "hostile", metricsPort: metricsPort)
        let edgePort = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: keySpace.prefix, port: edgePort, edgeID: "hostile")
        #expect(await eventually(within: .seconds(30)) { await HTTPProbe.status(port: metricsPort, path: "/readyz") == 200 },
            "worker never became ready; log:\n\(worker.log.suffix(2000))")

        let ids = try await Self.appendAll(port: server.port, stream: keySpace.inbound)
        try await RedisClient.withTestClient(server) { redis in
            try await Self.expectDeadLettered(ids: ids, consumer: "hostile", redis: redis, keySpace: keySpace)
        }
        let metrics = try await HTTPGet.body(port: metricsPort, path: "/metrics")
        #expect(metricValue(metrics, MetricNames.workerDeadLettered) == Double(Self.cases.count))
        #expect(worker.child.isRunning, "the worker process exited; log:\n\(worker.log.suffix(2000))")

        // Still serving: an echo through the edge process and this worker.
        try await withTestClients(1, urls: ["ws://127.0.0.1:\(edgePort)/ws"]) { clients in
            try await clients[0].send(text: "after the garbage")
            #expect(try await clients[0].nextText() == "after the garbage")
        }
        #expect(worker.child.isRunning)
        #expect(metricValue(try await HTTPGet.body(port: metricsPort, path: "/metrics"), MetricNames.workerHandled) ?? 0 >= 1)
        #expect(await edge.terminate() == 0)
        #expect(await worker.terminate() == 0)
        #expect(worker.log.contains("entry dead-lettered"))
    }
}
