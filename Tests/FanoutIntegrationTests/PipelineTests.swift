import FanoutCore
import FanoutEdge
import FanoutRedis
import FanoutTesting
import FanoutWorker
import NIOCore
import Synchronization
import Testing

/// The pipeline end to end in one process: real Redis, real edges and workers, real WebSocket clients.
@Suite struct PipelineTests {
    @Test func everyReplyReachesItsSenderAcrossTwoEdgesAndTwoWorkers() async throws {
        try await TestCluster.run(edges: 2, workers: 2) { cluster in
            let results = try await withTestClients(100, urls: cluster.urls) { clients in
                try await withThrowingTaskGroup(of: (lost: Int, duplicated: Int, foreign: Int, inOrder: Bool).self) { group in
                    for (index, client) in clients.enumerated() {
                        group.addTask {
                            let sent = (0..<100).map { "client-\(index)-message-\($0)" }
                            for message in sent { try await client.send(text: message) }
                            var received: [String] = []
                            for _ in 0..<100 { received.append(try await client.nextText(timeout: .seconds(30))) }
                            let expected = Set(sent)
                            return (
                                lost: expected.subtracting(received).count,
                                duplicated: received.count - Set(received).count,
                                foreign: received.filter { !expected.contains($0) }.count,
                                inOrder: received == sent)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let lost = results.map(\.lost).reduce(0, +)
            let duplicated = results.map(\.duplicated).reduce(0, +)
            let foreign = results.map(\.foreign).reduce(0, +)
            let ordered = results.filter(\.inOrder).count
            print("pipeline: 100 clients x 100 messages over 2 edges and 2 workers: lost \(lost), duplicated \(duplicated), misrouted \(foreign), per-connection order held for \(ordered)/100 connections")
            #expect(lost == 0 && duplicated == 0 && foreign == 0)

            // Everything was handled and acknowledged: no lag, nothing pending.
            #expect(try await eventually {
                let stats = try await StatsSnapshot.collect(redis: cluster.redis, keySpace: cluster.keySpace)
                return stats.lag == 0 && stats.pending == 0
            })
        }
    }

    @Test func oneWorkerKeepsEachConnectionsMessagesInOrder() async throws {
        try await TestCluster.run(edges: 1, workers: 1) { cluster in
            try await withTestClients(20, urls: cluster.urls) { clients in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, client) in clients.enumerated() {
                        group.addTask {
                            let sent = (0..<50).map { "c\(index)-\($0)" }
                            for message in sent { try await client.send(text: message) }
                            var received: [String] = []
                            for _ in 0..<50 { received.append(try await client.nextText(timeout: .seconds(30))) }
                            #expect(received == sent)
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test func aHandlerReachesAConnectionOnTheOtherEdgeAndClosesItWithTheGivenCode() async throws {
        try await TestCluster.run(edges: 2, workers: 1, handler: DirectoryHandler()) { cluster in
            try await withTestClients(2, urls: cluster.urls) { clients in
                let (a, b) = (clients[0], clients[1])  // a on edge 0, b on edge 1
                let idA = String(try await a.nextText().dropFirst(3))
                let idB = String(try await b.nextText().dropFirst(3))
                #expect(ConnectionID(idB)?.edge == cluster.edges[1].configuration.edgeID)
                try await a.send(text: "send \(idB) hello from the other edge")
                #expect(try await b.nextText() == "hello from the other edge")
                try await b.send(text: "send \(idA) and back")
                #expect(try await a.nextText() == "and back")
                try await a.send(text: "close \(idB) 4321 bye now")
                #expect(try await b.closeCode() == 4321)
                // The closer is unaffected.
                try await a.send(text: "still here")
                #expect(try await a.nextText() == "still here")
            }
        }
    }

    @Test func frameTypesAndBytesArePreservedUpToOneMebibyte() async throws {
        try await TestCluster.run(edges: 1, workers: 1) { cluster in
            try await withTestClients(1, urls: cluster.urls) { clients in
                let client = clients[0]
                try await client.send(text: "héllo ✓")
                let (textType, text) = try await client.nextMessage()
                #expect(textType == .text && String(buffer: text) == "héllo ✓")

                let binary = ByteBuffer(bytes: [0x00, 0xFF, 0xC3, 0x28, 0x0A])  // NUL and invalid UTF-8: fine in binary
                try await client.send(binary: binary)
                let (binaryType, echoed) = try await client.nextMessage()
                #expect(binaryType == .binary && echoed == binary)

                let big = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                try await client.send(binary: big)
                let (bigType, bigEcho) = try await client.nextMessage(timeout: .seconds(30))
                #expect(bigType == .binary && bigEcho == big)
            }
        }
    }

    @Test func aClientThatSendsRightAfterConnectingGetsItsReply() async throws {
        try await TestCluster.run(edges: 1, workers: 1) { cluster in
            for round in 0..<25 {
                try await withTestClients(4, urls: cluster.urls) { clients in
                    for (index, client) in clients.enumerated() { try await client.send(text: "first-\(round)-\(index)") }
                    for (index, client) in clients.enumerated() { #expect(try await client.nextText() == "first-\(round)-\(index)") }
                }
            }
        }
    }

    @Test func openAndCloseEntriesReachTheHandler() async throws {
        let handler = RecordingHandler()
        try await TestCluster.run(edges: 1, workers: 1, handler: handler) { cluster in
            let id = try await withTestClients(1, urls: cluster.urls) { clients in
                let id = ConnectionID(String(try await clients[0].nextText().dropFirst(3)))!
                try await clients[0].send(text: "one")
                return id
            }
            #expect(try await eventually { handler.seen.withLock { $0[id] } == [.open, .message, .close] })
        }
    }
}
