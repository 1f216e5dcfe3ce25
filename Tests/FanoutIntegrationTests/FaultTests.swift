import FanoutClient
import FanoutCore
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Foundation
import NIOCore
import Synchronization
import Testing

/// The "never lose a message" promises, proven by killing real processes. Serialized: each test
/// runs several processes, and timing-sensitive faults are kinder to judge one at a time.
@Suite(.serialized) struct FaultTests {
    @Test func killingAWorkerMidRunLosesNothing() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let fast = ["FANOUT_CLAIM_IDLE_MS": "1000", "FANOUT_BLOCK_MS": "200"]
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0")
        let victim = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, consumerName: "victim", environment: fast)
        let survivor = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, consumerName: "survivor", environment: fast)
        let received = SharedCounter()
        let (lost, duplicates) = try await withTestClients(50, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            try await withThrowingTaskGroup(of: (lost: Int, duplicates: Int).self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        let sent = Set((0..<400).map { "c\(index)-\($0)" })
                        for message in sent { try await client.send(text: message) }
                        var seen: [String: Int] = [:]
                        // Replies of the killed worker's claimed entries come after claimIdle.
                        while Set(seen.keys).count < sent.count {
                            let text = try await client.nextText(timeout: .seconds(60))
                            seen[text, default: 0] += 1
                            received.add(1)
                        }
                        // Redeliveries can still be on their way: give them a moment to show up.
                        while let extra = try? await client.nextText(timeout: .milliseconds(300)) { seen[extra, default: 0] += 1 }
                        return (sent.subtracting(seen.keys).count, seen.values.reduce(0) { $0 + $1 - 1 })
                    }
                }
                group.addTask {
                    // Kill the victim once the run is well under way, with plenty still in flight.
                    _ = await eventually(within: .seconds(60)) { received.value >= 4000 }
                    await victim.kill()
                    return (0, 0)
                }
                return try await group.reduce(into: (0, 0)) { $0.0 += $1.lost; $0.1 += $1.duplicates }
            }
        }
        print("fault: 20,000 messages, worker kill -9 mid-run: lost \(lost), duplicates \(duplicates)")
        #expect(lost == 0)
        try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
            #expect(try await eventually { try await redis.xpendingSummary("\(prefix):inbound", group: "workers").count == 0 })
        }
        _ = await survivor.terminate()
        _ = await edge.terminate()
    }

    @Test func aFailingHandlerIsRetriedThenDeadLetteredWhileOthersAreServed() async throws {
        let handler = PoisonHandler()
        try await TestCluster.run(edges: 1, workers: 1, handler: handler, configureWorker: {
            $0.claimIdle = .milliseconds(200)
            $0.maxDeliveries = 3
        }) { cluster in
            try await withTestClients(1, urls: cluster.urls) { clients in
                let client = clients[0]
                try await client.send(text: "poison")
                for index in 0..<20 {
                    try await client.send(text: "fine-\(index)")
                    #expect(try await client.nextText() == "fine-\(index)")
                }
                #expect(try await eventually { try await cluster.redis.xlen(cluster.keySpace.deadLetters) == 1 })
                let dead = try await cluster.redis.xrange(cluster.keySpace.deadLetters)
                #expect(dead.first.map { String(buffer: $0["payload"]!) } == "poison")
                #expect(dead.first.map { String(buffer: $0["deliveries"]!) } == "3")
                #expect(dead.first.map { String(buffer: $0["reason"]!).hasPrefix("handler failed") } == true)
                #expect(handler.poisonDeliveries.withLock { $0 } == [1, 2, 3])
                #expect(try await eventually { try await cluster.redis.xpendingSummary(cluster.keySpace.inbound, group: "workers").count == 0 })
            }
        }
    }

    /// A batch that takes longer than the claim time to handle (a slow handler, one connection's
    /// entries in one lane) is still in the worker's hands when it next reclaims: XAUTOCLAIM gives
    /// those entries back to it, and they must not be handled — and answered — a second time.
    /// With two workers, the other one's XAUTOCLAIM must not take them either: the worker holding
    /// the batch keeps it claimed.
    @Test(arguments: [1, 2]) func aBatchSlowerThanTheClaimTimeIsAnsweredOnce(workers: Int) async throws {
        try await TestCluster.run(edges: 1, workers: workers, handler: SlowEchoHandler(delay: .milliseconds(40)), configureWorker: {
            $0.claimIdle = .milliseconds(300)
            $0.blockTime = .milliseconds(100)  // below the claim time: an acknowledgement never waits behind a read that long
        }) { cluster in
            try await withTestClients(2, urls: cluster.urls) { clients in
                let sent = (0..<2).map { client in (0..<25).map { "s\(client)-\($0)" } }
                for (client, texts) in zip(clients, sent) {
                    for text in texts { try await client.send(text: text) }
                }
                for (client, texts) in zip(clients, sent) {
                    var got: [String] = []
                    for _ in texts { got.append(try await client.nextText(timeout: .seconds(30))) }
                    if workers == 1 {
                        #expect(got == texts, "one connection's answers, in order, each once")
                    } else {
                        // Two workers may each take a share of one connection's entries.
                        #expect(got.sorted() == texts.sorted(), "one connection's answers, each once")
                    }
                }
                // Everything is acknowledged; nothing was handled twice, so nothing more arrives.
                #expect(try await eventually { try await cluster.redis.xpendingSummary(cluster.keySpace.inbound, group: "workers").count == 0 })
                for client in clients {
                    let extra = try? await client.nextText(timeout: .milliseconds(700))
                    #expect(extra == nil, "an answer arrived twice: \(extra ?? "")")
                }
            }
        }
    }

    @Test func redisKilledAndRestartedWhileClientsSend() async throws {
        let server = try await RedisTestServer.start(appendOnly: true)
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0")
        // Entries the worker had read but not acknowledged when Redis died are reclaimed after claimIdle.
        let worker = try FanoutProcess.worker(
            redisURL: server.url, prefix: prefix,
            // Trimming off: the test reads every accepted message back from the stream.
            environment: ["FANOUT_BLOCK_MS": "200", "FANOUT_CLAIM_IDLE_MS": "1000", "FANOUT_TRIM_INTERVAL_MS": "0"])
        let phase = SharedCounter()  // 0 before the outage, 1 during, 2 after
        let totals = try await withTestClients(20, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            try await withThrowingTaskGroup(of: OutageTally.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask { try await OutageTally.run(client: client, index: index, until: { phase.value == 3 }) }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(500))
                    await server.kill()
                    phase.store(1)
                    try await Task.sleep(for: .milliseconds(800))
                    try await server.restart()
                    phase.store(2)
                    _ = await eventually { await HTTPProbe.status(port: port, path: "/readyz") == 200 }
                    try await Task.sleep(for: .milliseconds(800))
                    phase.store(3)
                    return OutageTally()
                }
                return try await group.reduce(into: OutageTally()) { $0.add($1) }
            }
        }
        print("fault: Redis killed and restarted under load: sent \(totals.sent), replies \(totals.replies), refused explicitly \(totals.refused), accepted but unanswered \(totals.unanswered.count), closed by the edge \(totals.closed)")
        #expect(totals.closed == 0, "no client connection may be dropped by the edge")
        #expect(totals.refused > 0, "the outage must have been answered explicitly")
        try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
            // Every accepted message reached the stream (AOF) and was processed by the worker after the restart.
            let inStream = Set(try await redis.xrange("\(prefix):inbound").compactMap { entry -> String? in
                guard entry["kind"].map({ String(buffer: $0) }) == "message" else { return nil }
                return entry["payload"].map { String(buffer: $0) }
            })
            let missing = totals.accepted.filter { !inStream.contains($0) }
            print("fault: accepted messages missing from the stream after the restart: \(missing.count) \(missing.prefix(5))")
            #expect(missing.isEmpty)
            #expect(try await eventually(within: .seconds(30)) {
                let group = try await redis.xinfoGroups("\(prefix):inbound").first
                return group?.lag == 0 && group?.pending == 0
            })
        }
        _ = await worker.terminate()
        _ = await edge.terminate()
        await server.stop()
    }

    @Test func overloadIsRefusedAboveTheHighWaterMarkAndAcceptedAgainOnceWorkersCatchUp() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0", environment: [
            "FANOUT_OVERLOAD_HIGH_WATER": "300", "FANOUT_OVERLOAD_LOW_WATER": "50", "FANOUT_LAG_SAMPLE_MS": "50",
        ])
        // The group must exist for lag to be measured: a worker creates it, then stops.
        let first = try FanoutProcess.worker(redisURL: server.url, prefix: prefix)
        try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
            #expect(try await eventually { try await redis.xinfoGroups("\(prefix):inbound").count == 1 })
        }
        #expect(await first.terminate() == 0)
        try await withTestClients(1, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            let client = clients[0]
            var refusedAt: Int?
            for index in 0..<2000 where refusedAt == nil {
                try await client.send(text: "m\(index)")
                if index % 50 == 49, let frame = try? await client.nextText(timeout: .milliseconds(100)) {
                    #expect(frame.hasPrefix(#"{"type":"error","error":"overloaded","retry":true,"seq":"#))
                    refusedAt = index
                }
            }
            print("fault: with no workers the edge refused from message \(refusedAt.map(String.init) ?? "never")")
            #expect(refusedAt != nil)
            let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix)
            // Workers drain the backlog (those replies arrive too); then new messages are accepted again.
            #expect(try await eventually(within: .seconds(30)) {
                try await client.send(text: "probe")
                while let text = try? await client.nextText(timeout: .milliseconds(200)) {
                    if text == "probe" { return true }
                }
                return false
            })
            _ = await worker.terminate()
        }
        _ = await edge.terminate()
    }

    @Test func sigtermToABusyWorkerFinishesItsWorkAndLeavesNothingPending() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0")
        let busy = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, consumerName: "busy")
        let replacement = ProcessHolder()  // keeps the replacement worker alive until the end of the test
        let lost = try await withTestClients(20, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask {
                        let sent = Set((0..<250).map { "c\(index)-\($0)" })
                        for message in sent { try await client.send(text: message) }
                        var seen = Set<String>()
                        while seen.count < sent.count, let text = try? await client.nextText(timeout: .seconds(30)) { seen.insert(text) }
                        return sent.subtracting(seen).count
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(300))
                    let code = await busy.terminate()
                    #expect(code == 0)
                    try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
                        let consumers = try await redis.xinfoConsumers("\(prefix):inbound", group: "workers")
                        #expect(!consumers.contains { $0.name == "busy" }, "a drained worker leaves the group")
                    }
                    // A new worker takes the rest; nothing the busy worker read may be missing.
                    let after = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, consumerName: "after")
                    replacement.hold(after)
                    return 0
                }
                return try await group.reduce(0, +)
            }
        }
        print("fault: SIGTERM to a busy worker: 5,000 messages, lost \(lost)")
        #expect(lost == 0)
        _ = await replacement.held?.terminate()
        _ = await edge.terminate()
    }

    @Test func sigtermToAnEdgeClosesEachOfItsHundredClientsWith1001AfterTheirReplies() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0")
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix)
        try await withTestClients(100, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            for (index, client) in clients.enumerated() { try await client.send(text: "last-\(index)") }
            for (index, client) in clients.enumerated() { #expect(try await client.nextText() == "last-\(index)") }
            async let exit = edge.terminate()
            var codes: [UInt16?] = []
            for client in clients { codes.append(try await client.closeCode()) }
            #expect(codes.allSatisfy { $0 == 1001 })
            #expect(await exit == 0)
        }
        _ = await worker.terminate()
    }

    @Test func aKilledEdgesHeartbeatExpiresAndItsStateIsCleanedWhileTheOtherEdgeServes() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let ports = [try RedisTestServer.freePort(), try RedisTestServer.freePort()]
        let fast = ["FANOUT_HEARTBEAT_MS": "100", "FANOUT_HEARTBEAT_TIMEOUT_MS": "2000"]
        let victim = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: ports[0], edgeID: "victim", environment: fast)
        let survivor = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: ports[1], edgeID: "survivor", environment: fast)
        let worker = try FanoutProcess.worker(redisURL: server.url, prefix: prefix, handler: "chat")
        try await withTestClients(4, urls: ports.map { "ws://127.0.0.1:\($0)/ws" }) { clients in
            for client in clients {
                try await client.send(text: #"{"type":"join","room":"lobby"}"#)
                #expect(try await client.nextText().hasPrefix(#"{"type":"joined","room":"lobby","offset":"#))
            }
            try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
                #expect(try await redis.send(.scard("\(prefix):presence:room:lobby")).int == 4)
                await victim.kill()
                let state = LastSeen()
                #expect(try await eventually(within: .seconds(30)) {
                    let edges = try await redis.send(.zrangebyscore("\(prefix):edges", min: "-inf", max: "+inf")).array?.compactMap(\.string)
                    let leftover = try await redis.send(.exists("\(prefix):edge:victim:conns")).int
                    let members = try await redis.send(.scard("\(prefix):presence:room:lobby")).int
                    state.set("edges \(edges ?? []), victim conns key \(leftover ?? -1), lobby members \(members ?? -1)")
                    return edges == ["survivor"] && leftover == 0 && members == 2
                }, "last seen: \(state.value)")
            }
            // The survivor's clients are unaffected.
            try await clients[1].send(text: #"{"type":"say","room":"lobby","text":"still here"}"#)
            let message = try await clients[1].nextText()
            #expect(message.contains(#""text":"still here""#))
        }
        _ = await worker.terminate()
        _ = await survivor.terminate()
    }
}

/// Throws for the payload `poison`, echoes everything else; records the delivery counts it saw for poison.
/// Echoes after waiting `delay` (a handler that waits on I/O).
struct SlowEchoHandler: MessageHandler {
    let delay: Duration

    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message else { return }
        try await Task.sleep(for: delay)
        context.reply(message.frameType, message.payload)
    }
}

final class PoisonHandler: MessageHandler {
    let poisonDeliveries = Mutex<[Int]>([])

    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message else { return }
        if message.text == "poison" {
            poisonDeliveries.withLock { $0.append(message.deliveryCount) }
            throw PoisonError()
        }
        context.reply(message.frameType, message.payload)
    }

    struct PoisonError: Error {}
}

/// One client's view of a Redis outage: what it sent, and how each message was answered.
struct OutageTally: Sendable {
    var sent = 0, replies = 0, refused = 0, closed = 0
    /// Messages the edge neither refused nor answered (their replies may be lost in the gap: pub/sub is at-most-once).
    var unanswered: [String] = []
    /// Messages the edge did not refuse: every one must be in the stream.
    var accepted: [String] = []

    mutating func add(_ other: OutageTally) {
        sent += other.sent
        replies += other.replies
        refused += other.refused
        closed += other.closed
        unanswered += other.unanswered
        accepted += other.accepted
    }

    /// Sends a message every 10 ms until `until()`, then collects answers until every message has one (or `drain` passes).
    static func run(
        client: TestClient, index: Int, drain: Duration = .seconds(5), until done: @Sendable () -> Bool
    ) async throws -> OutageTally {
        var tally = OutageTally()
        var messages: [String] = []
        var replied = Set<String>()
        var refusedSequences = Set<Int>()
        func absorb(_ event: FanoutClientEventView) {
            switch event {
            case .text(let text) where text.hasPrefix(#"{"type":"error""#):
                if let range = text.range(of: #""seq":"#), let sequence = Int(text[range.upperBound...].prefix { $0.isNumber }) {
                    refusedSequences.insert(sequence)
                }
            case .text(let text): replied.insert(text)
            case .closed: tally.closed += 1
            }
        }
        // Cancellation too: when another task of the test fails, this loop must not outlive it.
        while !done() && !Task.isCancelled {
            let message = "c\(index)-\(messages.count)"
            do {
                try await client.send(text: message)
                messages.append(message)
            } catch {
                tally.closed += 1
                break
            }
            while let event = try? await FanoutClientEventView.next(from: client, timeout: .milliseconds(10)) { absorb(event) }
        }
        let deadline = ContinuousClock.now + drain
        // Answered: refused, or replied to. Not a sum of the two counts: a refused message can be
        // replied to as well (it reached Redis even though the edge could not count it accepted).
        func unansweredRemain() -> Bool {
            messages.enumerated().contains { !refusedSequences.contains($0.offset + 1) && !replied.contains($0.element) }
        }
        while unansweredRemain(), ContinuousClock.now < deadline, tally.closed == 0 {
            if let event = try? await FanoutClientEventView.next(from: client, timeout: .milliseconds(500)) { absorb(event) }
        }
        tally.sent = messages.count
        tally.replies = replied.count
        tally.refused = refusedSequences.count
        for (offset, message) in messages.enumerated() where !refusedSequences.contains(offset + 1) {
            tally.accepted.append(message)
            if !replied.contains(message) { tally.unanswered.append(message) }
        }
        return tally
    }
}

/// The two things the outage test distinguishes in a client's events.
enum FanoutClientEventView {
    case text(String)
    case closed

    static func next(from client: TestClient, timeout: Duration) async throws -> FanoutClientEventView {
        let event = try await client.nextEvent(timeout: timeout)
        switch event {
        case .message(_, let bytes): return .text(String(buffer: bytes))
        case .closed(_, _), .failed(_): return .closed
        default: return try await next(from: client, timeout: timeout)
        }
    }
}

/// Keeps a process object (and so the process) alive across task boundaries.
final class ProcessHolder: Sendable {
    private let storage = Mutex<FanoutProcess?>(nil)
    func hold(_ process: FanoutProcess) { storage.withLock { $0 = process } }
    var held: FanoutProcess? { storage.withLock { $0 } }
}

/// The last observation of a polled condition, for the failure message.
final class LastSeen: Sendable {
    private let storage = Mutex("")
    func set(_ value: String) { storage.withLock { $0 = value } }
    var value: String { storage.withLock { $0 } }
}
