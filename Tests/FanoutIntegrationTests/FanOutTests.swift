import FanoutCore
import FanoutEdge
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Foundation
import NIOCore
import Testing

/// Rooms, presence and slow clients with the chat handler: real Redis, two edges, real clients.
@Suite(.serialized) struct FanOutTests {
    static func join(_ room: String) -> String { #"{"type":"join","room":"\#(room)"}"# }
    /// `joined` starts so; with history on, `offset`, `epoch` and `recovered` follow (HistoryTests checks them).
    static func joinedPrefix(_ room: String) -> String { #"{"type":"joined","room":"\#(room)""# }
    static func leave(_ room: String) -> String { #"{"type":"leave","room":"\#(room)"}"# }
    static func say(_ room: String, _ text: String) -> String { #"{"type":"say","room":"\#(room)","text":"\#(text)"}"# }

    @Test func threeHundredMembersOnTwoEdgesReceiveEveryMessageExactlyOnce() async throws {
        try await TestCluster.run(edges: 2, workers: 2, handler: ChatHandler()) { cluster in
            try await withTestClients(300, urls: cluster.urls) { clients in
                for client in clients {
                    try await client.send(text: Self.join("hall"))
                    #expect(try await client.nextText().hasPrefix(Self.joinedPrefix("hall")))
                }
                // One member leaves first: after its "left" it must receive nothing.
                let leaver = clients[299]
                try await leaver.send(text: Self.leave("hall"))
                #expect(try await leaver.nextText() == #"{"type":"left","room":"hall"}"#)
                let members = Array(clients[0..<299])
                let senders = Array(members[0..<3])
                for index in 0..<100 { try await senders[index % 3].send(text: Self.say("hall", "m\(index)")) }
                var exact = 0
                for member in members {
                    var seen: [String: Int] = [:]
                    for _ in 0..<100 {
                        let text = try await member.nextText(timeout: .seconds(30))
                        if let body = ChatFrame(text)?.body { seen[body, default: 0] += 1 }
                    }
                    if seen.count == 100 && seen.values.allSatisfy({ $0 == 1 }) { exact += 1 }
                }
                print("fanout: 299 members x 100 messages over 2 edges: \(exact) members received all 100 exactly once")
                #expect(exact == 299)
                await #expect(throws: (any Error).self) { _ = try await leaver.nextText(timeout: .milliseconds(500)) }
                #expect(try await cluster.redis.send(.scard("\(cluster.keySpace.prefix):presence:room:hall")).int == 299)
            }
        }
    }

    @Test func aClientThatReceivedItsJoinedReceivesEveryLaterBroadcastThousandTimes() async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler()) { cluster in
            try await withTestClients(1, urls: cluster.urls) { clients in
                let client = clients[0]
                let channel = "\(cluster.keySpace.prefix):room:race"
                var misses = 0
                for iteration in 0..<1000 {
                    try await client.send(text: Self.join("race"))
                    #expect(try await client.nextText().hasPrefix(Self.joinedPrefix("race")))
                    // Published the moment "joined" arrived: it must be delivered.
                    _ = try await cluster.redis.publish(channel, OutboundEnvelope.frame(.text, ByteBuffer(string: "b\(iteration)")).encode())
                    if try await client.nextText() != "b\(iteration)" { misses += 1 }
                    try await client.send(text: Self.leave("race"))
                    #expect(try await client.nextText() == #"{"type":"left","room":"race"}"#)
                }
                print("fanout: join-then-broadcast race, 1000 iterations: \(misses) misses")
                #expect(misses == 0)
            }
        }
    }

    @Test func anEdgeUnsubscribesFromARoomWhenItsLastLocalMemberLeavesOrDisconnects() async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler()) { cluster in
            let roomChannel = "\(cluster.keySpace.prefix):room:quiet"
            let subscribed: @Sendable () async throws -> Bool = {
                (try await cluster.redis.send(.pubsubChannels(pattern: roomChannel)).array ?? []).count == 1
            }
            try await withTestClients(2, urls: cluster.urls) { clients in
                for client in clients {
                    try await client.send(text: Self.join("quiet"))
                    #expect(try await client.nextText().hasPrefix(Self.joinedPrefix("quiet")))
                }
                #expect(try await subscribed())
                try await clients[0].send(text: Self.leave("quiet"))
                _ = try await clients[0].nextText()
                #expect(try await subscribed(), "one local member is left")
                await clients[1].close()  // the last member disconnects without leaving
                #expect(try await eventually { try await !subscribed() })
                #expect(try await eventually { try await cluster.redis.send(.scard("\(cluster.keySpace.prefix):presence:room:quiet")).int == 0 })
            }
        }
    }

    @Test(arguments: [
        ("not json", "malformed JSON: expected an object"),
        (#"{"type":"dance"}"#, "unknown type: dance"),
        (#"{"type":"join","room":"no spaces"}"#, "invalid room name: 1-128 of [A-Za-z0-9._-]"),
        (#"{"type":"say","room":"elsewhere","text":"hi"}"#, "not joined: elsewhere"),
        (#"{"type":"leave","room":"elsewhere"}"#, "not joined: elsewhere"),
        (#"{"room":"x"}"#, #"missing \"type\""#),
    ])
    func everyChatErrorIsAnErrorFrameAndTheConnectionStaysOpen(_ input: String, _ reason: String) async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler()) { cluster in
            try await withTestClients(1, urls: cluster.urls) { clients in
                try await clients[0].send(text: input)
                #expect(try await clients[0].nextText() == #"{"type":"error","error":"\#(reason)"}"#)
                try await clients[0].send(text: Self.join("after"))
                #expect(try await clients[0].nextText().hasPrefix(Self.joinedPrefix("after")))
            }
        }
    }

    @Test func aStalledClientIsClosedWith4008WhileTheOthersReceiveEverything() async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler(), configureEdge: {
            // Room for 300 messages per client: slack for 199 busy readers sharing one test
            // process with the edge, well below the 500 broadcasts the stalled client is sent.
            $0.outboxMessages = 300
            $0.socketSendBuffer = 8192
            $0.slowConsumerGrace = .seconds(60)
        }) { cluster in
            let stalled = try await RawWebSocket.connect(port: cluster.port(edge: 0), receiveBuffer: 4096)
            try await stalled.send(text: Self.join("stream"))
            #expect(String(decoding: try await stalled.nextFrame().payload, as: UTF8.self).hasPrefix(Self.joinedPrefix("stream")))
            try await withTestClients(199, urls: cluster.urls) { clients in
                for client in clients {
                    try await client.send(text: Self.join("stream"))
                    #expect(try await client.nextText().hasPrefix(Self.joinedPrefix("stream")))
                }
                let channel = "\(cluster.keySpace.prefix):room:stream"
                let largestOutbox = SharedCounter()
                let sampling = SharedCounter(1)
                async let sampler: Void = {
                    // What the edge holds for its clients, sampled while the stream runs.
                    // (Stops on cancellation too: a failing test must not leave it spinning.)
                    while sampling.value == 1, !Task.isCancelled {
                        let now = await cluster.edges[0].largestOutbox()
                        if now > largestOutbox.value { largestOutbox.store(now) }
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                }()
                // The readers run while the broadcasts are published, 50 at a time: each batch waits
                // until every reader has its last one, so a reader never lags more than 50 messages
                // (a busy test process must not look like a slow consumer), while the stalled client,
                // which reads nothing, falls 500 behind and passes the bound of 300.
                let padding = String(repeating: "x", count: 2048)
                let received = clients.map { _ in SharedCounter() }
                async let readersComplete = withThrowingTaskGroup(of: Int.self) { group in
                    for (client, progress) in zip(clients, received) {
                        group.addTask {
                            for index in 0..<500 {
                                guard (try await client.nextText(timeout: .seconds(30))).hasPrefix("\(index) ") else {
                                    progress.store(Int.max)  // out of order: counted as incomplete below
                                    return 0
                                }
                                progress.store(index + 1)
                            }
                            return 1
                        }
                    }
                    return try await group.reduce(0, +)
                }
                for batch in stride(from: 0, to: 500, by: 50) {
                    for index in batch..<(batch + 50) {
                        _ = try await cluster.redis.publish(channel, OutboundEnvelope.frame(.text, ByteBuffer(string: "\(index) \(padding)")).encode())
                    }
                    let caughtUp = await eventually(within: .seconds(30)) { received.allSatisfy { $0.value >= batch + 50 } }
                    #expect(caughtUp, "every reader received broadcast \(batch + 49)")
                }
                // The stalled client starts reading again now, well within the 60 s grace after its
                // 4008 was queued (past it the edge would drop the TCP connection instead).
                async let stalledOutcome = stalled.readUntilClose()
                let complete = try await readersComplete
                let (frames, code) = try await stalledOutcome
                sampling.store(0)
                await sampler
                print("fanout: largest outbox seen during the stream: \(largestOutbox.value) messages (bound 300)")
                #expect(largestOutbox.value <= 300, "the edge's buffers stay bounded")
                print("fanout: 1 stalled client among 200: \(complete)/199 others received all 500 broadcasts; the stalled one got \(frames) then close \(code.map(String.init) ?? "none")")
                #expect(complete == 199)
                #expect(code == CloseCode.slowConsumer)
                #expect(frames < 500)
                #expect(cluster.edges[0].counters.slowConsumerClosed == 1)
            }
        }
    }
}
