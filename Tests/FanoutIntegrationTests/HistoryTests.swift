import FanoutClient
import FanoutCore
import FanoutEdge
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Foundation
import NIOCore
import Testing

/// Room history and recovery (issue 15) with the chat handler: real Redis, real edges, real clients.
@Suite(.serialized) struct HistoryTests {
    /// Joins `room` and returns the `joined` reply.
    static func join(_ client: TestClient, _ room: String, since: Int64? = nil, epoch: String? = nil) async throws -> ChatFrame {
        try await client.send(text: ChatFrame.join(room, since: since, epoch: epoch))
        let reply = try await client.nextChat()
        #expect(reply.type == "joined", "\(reply)")
        return reply
    }

    @Test func aMemberDisconnectedForThirtyMessagesRecoversExactlyThoseThroughTheOtherEdgeThenLiveOnes() async throws {
        try await TestCluster.run(edges: 2, workers: 1, handler: ChatHandler()) { cluster in
            try await withTestClients(1, urls: [cluster.url(edge: 0)]) { senders in
                let sender = senders[0]
                let first = try await Self.join(sender, "trip")
                #expect(first.text == #"{"type":"joined","room":"trip","offset":0,"epoch":"\#(first.epoch!)","recovered":false}"#)
                let (last, epoch, senderID) = try await withTestClients(1, urls: [cluster.url(edge: 0)]) { members in
                    let joined = try await Self.join(members[0], "trip")
                    try await sender.send(text: ChatFrame.say("trip", "before"))
                    let seen = try await members[0].nextChat()
                    _ = try await sender.nextChat()
                    #expect(seen.offset == 1 && seen.body == "before")
                    return (seen.offset!, joined.epoch!, seen.from!)
                }
                // The member is gone: 30 messages it misses.
                for index in 0..<30 { try await sender.send(text: ChatFrame.say("trip", "missed-\(index)")) }
                for _ in 0..<30 { _ = try await sender.nextChat() }
                try await withTestClients(1, urls: [cluster.url(edge: 1)]) { back in
                    let joined = try await Self.join(back[0], "trip", since: last, epoch: epoch)
                    #expect(joined.text == #"{"type":"joined","room":"trip","offset":31,"epoch":"\#(epoch)","recovered":true}"#)
                    for index in 0..<30 {
                        #expect(try await back[0].nextText() == ChatFrame.message("trip", from: senderID, text: "missed-\(index)", offset: Int64(index) + 2))
                    }
                    for index in 0..<5 {
                        try await sender.send(text: ChatFrame.say("trip", "live-\(index)"))
                        #expect(try await back[0].nextText() == ChatFrame.message("trip", from: senderID, text: "live-\(index)", offset: Int64(index) + 32))
                    }
                    await #expect(throws: (any Error).self) { _ = try await back[0].nextText(timeout: .milliseconds(300)) }
                }
            }
        }
    }

    @Test func aSinceTheHistoryNoLongerCoversIsAnsweredRecoveredFalseWithTheReason() async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler(), configureWorker: { $0.history.size = 10 }) { cluster in
            try await withTestClients(2, urls: cluster.urls) { clients in
                let sender = clients[0]
                let epoch = try await Self.join(sender, "short").epoch!
                for index in 0..<30 { try await sender.send(text: ChatFrame.say("short", "m\(index)")) }
                for _ in 0..<30 { _ = try await sender.nextChat() }
                let cases: [(Int64, String?, String)] = [(5, epoch, "trimmed"), (3, "1", "epoch_changed"), (99, epoch, "unknown_offset")]
                for (since, givenEpoch, reason) in cases {
                    let joined = try await Self.join(clients[1], "short", since: since, epoch: givenEpoch)
                    #expect(joined.text == #"{"type":"joined","room":"short","offset":30,"epoch":"\#(epoch)","recovered":false,"reason":"\#(reason)"}"#)
                }
                // Still in the room, from offset 30 on: the next message is 31, nothing older.
                try await sender.send(text: ChatFrame.say("short", "after"))
                #expect(try await clients[1].nextChat().offset == 31)
                // The last 10 (22…31) are still there: since 21 recovers them, in order.
                let recovered = try await Self.join(clients[1], "short", since: 21, epoch: epoch)
                #expect(recovered.recovered == true)
                var offsets: [Int64] = []
                for _ in 0..<10 { offsets.append(try await clients[1].nextChat().offset ?? -1) }
                #expect(offsets == Array(22...31))
            }
        }
    }

    @Test func killingTheEdgesPubSubConnectionsDuringABroadcastStreamLosesNothingForItsMembers() async throws {
        let server = try await RedisTestServer.start()
        defer { Task { await server.stop() } }
        try await TestCluster.run(edges: 2, workers: 2, handler: ChatHandler(), server: server) { cluster in
            try await withTestClients(20, urls: cluster.urls) { clients in
                for client in clients { _ = try await Self.join(client, "hiccup") }
                let total = 400
                async let sending: Void = {
                    for index in 0..<total {
                        try await clients[index % 2].send(text: ChatFrame.say("hiccup", "m\(index)"))
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }()
                async let killing: Void = {
                    for _ in 0..<3 {
                        try await Task.sleep(for: .milliseconds(200))
                        _ = try await cluster.redis.send(RedisCommand("CLIENT", ["KILL", "TYPE", "pubsub"]))
                    }
                }()
                try await sending
                try await killing
                var complete = 0
                for client in clients {
                    var offsets: [Int64] = []
                    while offsets.count < total, let frame = try? await client.nextChat(timeout: .seconds(20)) { offsets.append(frame.offset ?? -1) }
                    if offsets == Array(1...Int64(total)) { complete += 1 }
                }
                let fills = cluster.edges.map(\.counters.historyFillsStarted).reduce(0, +)
                print("history: pub/sub connections killed 3 times during \(total) broadcasts: \(complete)/20 members got offsets 1…\(total) in order, \(fills) history fills")
                #expect(complete == 20)
                #expect(fills > 0)
                #expect(cluster.edges.map(\.counters.historyGapsLost).reduce(0, +) == 0)
            }
        }
    }

    @Test func redisRestartedWithAOFLeavesNoSilentGap() async throws {
        let server = try await RedisTestServer.start(appendOnly: true)
        defer { Task { await server.stop() } }
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler(), server: server) { cluster in
            try await withTestClients(6, urls: cluster.urls) { clients in
                var epochs: [String] = []
                for client in clients { epochs.append(try await Self.join(client, "aof").epoch!) }
                let epoch = epochs[0]
                let sender = clients[0]
                for index in 0..<20 { try await sender.send(text: ChatFrame.say("aof", "before-\(index)")) }
                for client in clients { for _ in 0..<20 { _ = try await client.nextChat() } }
                await server.kill()
                try await server.restart()
                // Once the edge can append again, the room goes on from offset 21 in the same epoch.
                #expect(try await eventually(within: .seconds(20)) {
                    try await sender.send(text: ChatFrame.say("aof", "probe"))
                    return (try? await sender.nextChat(timeout: .seconds(2)))?.type == "message"
                })
                for index in 0..<20 { try await sender.send(text: ChatFrame.say("aof", "after-\(index)")) }
                // Every member got a gap-free run (refused probes are not in it), or was told: never a silent gap.
                var told = 0, gapFree = 0
                for client in clients.dropFirst() {
                    var offsets: [Int64] = []
                    var closed = false
                    while true {
                        guard let event = try? await client.nextEvent(timeout: .seconds(3)) else { break }
                        if case .closed(let code, _) = event {
                            #expect(code == CloseCode.insufficientState)
                            closed = true
                            break
                        }
                        if case .message(_, let bytes) = event, let frame = ChatFrame(String(buffer: bytes)), frame.type == "message" {
                            offsets.append(frame.offset!)
                        }
                    }
                    if closed { told += 1; continue }
                    if offsets.first == 21, zip(offsets, offsets.dropFirst()).allSatisfy({ $1 == $0 + 1 }), offsets.count >= 21 { gapFree += 1 }
                }
                print("history: Redis killed and restarted (AOF): \(gapFree) members got every message in order, \(told) were closed with 4010")
                #expect(gapFree + told == 5)
                // A client that was away all along recovers across the restart.
                try await withTestClients(1, urls: cluster.urls) { late in
                    let joined = try await Self.join(late[0], "aof", since: 20, epoch: epoch)
                    #expect(joined.recovered == true && joined.epoch == epoch)
                    #expect(try await late[0].nextChat().offset == 21)
                }
            }
        }
    }

    @Test func aLostHistoryOrAGapHistoryCannotFillClosesTheMembersWith4010AndTheRejoinSaysWhy() async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler()) { cluster in
            let keySpace = cluster.keySpace
            try await withTestClients(2, urls: cluster.urls) { clients in
                let epoch = try await Self.join(clients[0], "lost").epoch!
                _ = try await Self.join(clients[1], "lost")
                for index in 0..<3 { try await clients[0].send(text: ChatFrame.say("lost", "m\(index)")) }
                for client in clients { for _ in 0..<3 { _ = try await client.nextChat() } }
                // Redis loses the room's history: the next message starts a new epoch at offset 1.
                let room = RoomName("lost")!
                _ = try await cluster.redis.send(.del([keySpace.roomOffsets(room), keySpace.roomHistory(room)]))
                try await clients[0].send(text: ChatFrame.say("lost", "after"))
                for client in clients { #expect(try await client.closeCode() == CloseCode.insufficientState) }
                try await withTestClients(1, urls: cluster.urls) { back in
                    let joined = try await Self.join(back[0], "lost", since: 3, epoch: epoch)
                    #expect(joined.recovered == false && joined.reason == "epoch_changed" && joined.offset == 1 && joined.epoch != epoch)
                }
            }
            // A message whose predecessors are in no history (published by hand): the gap cannot be filled.
            let lostBefore = cluster.edges[0].counters.historyGapsLost
            try await withTestClients(1, urls: cluster.urls) { clients in
                let joined = try await Self.join(clients[0], "gap")
                let envelope = OutboundEnvelope.frame(
                    .text, ByteBuffer(string: "x"), position: StreamPosition(epoch: Int64(joined.epoch!)!, offset: 5))
                _ = try await cluster.redis.publish(keySpace.room(RoomName("gap")!), envelope.encode())
                #expect(try await clients[0].closeCode() == CloseCode.insufficientState)
                #expect(cluster.edges[0].counters.historyGapsLost == lostBefore + 1)
            }
        }
    }

    @Test func theSwiftClientRejoinsAfterAReconnectAndDeliversEachMessageOnceInOrder() async throws {
        try await TestCluster.run(edges: 2, workers: 1, handler: ChatHandler()) { cluster in
            let member = TestClient(
                url: cluster.url(edge: 1),
                reconnect: FanoutClient.ReconnectPolicy(backoff: Backoff(initial: .milliseconds(200), maximum: .milliseconds(200))))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await member.run() }
                defer { group.cancelAll() }
                try await member.waitUntilConnected()
                try await withTestClients(1, urls: [cluster.url(edge: 0)]) { senders in
                    let sender = senders[0]
                    try await member.client.join(room: "auto")
                    #expect(try await member.nextChat().type == "joined")
                    _ = try await Self.join(sender, "auto")
                    try await sender.send(text: ChatFrame.say("auto", "a0"))
                    #expect(try await member.nextChat().offset == 1)
                    try await member.send(text: ChatFrame.say("auto", "mine"))
                    let mine = try await member.nextChat()
                    #expect(mine.offset == 2)
                    // The edge drops the member with 4010 (come back); five messages go out meanwhile.
                    let channel = cluster.keySpace.connection(ConnectionID(mine.from!)!)
                    _ = try await cluster.redis.publish(channel, OutboundEnvelope.close(code: CloseCode.insufficientState, reason: "test").encode())
                    #expect(try await member.closeCode() == CloseCode.insufficientState)
                    for index in 1...5 { try await sender.send(text: ChatFrame.say("auto", "a\(index)")) }
                    // The client reconnects and rejoins with since 2 on its own.
                    var frames: [String] = []
                    while frames.count < 6 {
                        if case .message(_, let bytes) = try await member.nextEvent(), let frame = ChatFrame(String(buffer: bytes)) {
                            frames.append(frame.type == "message" ? "\(frame.offset!) \(frame.body!)" : "\(frame.type) \(frame.recovered == true)")
                        }
                    }
                    #expect(frames == ["joined true", "3 a1", "4 a2", "5 a3", "6 a4", "7 a5"])
                    #expect(member.client.position(room: "auto")?.offset == 7)
                }
            }
        }
    }

    @Test func historySizeZeroBehavesAsBefore() async throws {
        try await TestCluster.run(edges: 1, workers: 1, handler: ChatHandler(), configureWorker: { $0.history.size = 0 }) { cluster in
            try await withTestClients(1, urls: cluster.urls) { clients in
                let client = clients[0]
                try await client.send(text: ChatFrame.join("plain"))
                #expect(try await client.nextText() == #"{"type":"joined","room":"plain"}"#)
                try await client.send(text: ChatFrame.say("plain", "hi"))
                let message = try await client.nextChat()
                #expect(message.text == #"{"type":"message","room":"plain","from":"\#(message.from!)","text":"hi"}"#)
                try await client.send(text: ChatFrame.join("plain", since: 3))
                #expect(try await client.nextText() == #"{"type":"joined","room":"plain","recovered":false,"reason":"disabled"}"#)
                let keys = try await cluster.redis.send(RedisCommand("KEYS", ["\(cluster.keySpace.prefix):*offsets*"])).array ?? []
                let history = try await cluster.redis.send(RedisCommand("KEYS", ["\(cluster.keySpace.prefix):history*"])).array ?? []
                #expect(keys.isEmpty && history.isEmpty)
            }
        }
    }
}
