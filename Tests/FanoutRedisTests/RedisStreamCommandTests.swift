import Logging
import NIOPosix
import FanoutTesting
import NIOCore
import Testing

@testable import FanoutRedis

@Suite struct RedisStreamCommandTests {
    @Test func consumerGroupLifecycleDecodesTyped() async throws {
        let server = try await RedisTestServer.shared()
        let stream = "\(TestKeys.uniquePrefix()):inbound"
        try await RedisClient.withTestClient(server) { client in
            #expect(try await client.xgroupCreate(stream, group: "workers", startID: "0") == true)
            #expect(try await client.xgroupCreate(stream, group: "workers", startID: "0") == false)  // BUSYGROUP
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await client.xadd(stream, maxLength: 1000, fields: [("n", ByteBuffer(string: "\(index)"))]))
            }
            #expect(try await client.xlen(stream) == 5)

            let read = try await client.xreadgroup(stream, group: "workers", consumer: "c1", count: 3, block: .milliseconds(100))
            #expect(read.map(\.id) == Array(ids.prefix(3)))
            #expect(read.map { String(buffer: $0["n"]!) } == ["0", "1", "2"])

            let summary = try await client.xpendingSummary(stream, group: "workers")
            #expect(summary.count == 3 && summary.consumers == ["c1": 3] && summary.smallestID == ids[0])
            let rows = try await client.xpending(stream, group: "workers", count: 10)
            #expect(rows.map(\.id) == Array(ids.prefix(3)) && rows.allSatisfy { $0.consumer == "c1" && $0.deliveries == 1 })

            let claimed = try await client.xautoclaim(stream, group: "workers", consumer: "c2", minIdle: .zero)
            #expect(claimed.entries.map(\.id) == Array(ids.prefix(3)) && claimed.nextStart == "0-0")
            let afterClaim = try await client.xpending(stream, group: "workers", count: 10)
            #expect(afterClaim.allSatisfy { $0.consumer == "c2" && $0.deliveries == 2 })

            #expect(try await client.xack(stream, group: "workers", ids: Array(ids.prefix(3))) == 3)
            let groups = try await client.xinfoGroups(stream)
            #expect(groups.count == 1 && groups[0].name == "workers" && groups[0].pending == 0 && groups[0].lag == 2)
            let info = try await client.xinfoStream(stream)
            #expect(info?.length == 5 && info?.groups == 1 && info?.lastEntryID == ids[4])
            let consumers = try await client.xinfoConsumers(stream, group: "workers")
            #expect(Set(consumers.map(\.name)) == ["c1", "c2"])

            #expect(try await client.send(.xdel(stream, ids: [ids[4]])) == .integer(1))
            #expect(try await client.send(.xtrim(stream, maxLength: 0, approximate: false)) == .integer(4))
            #expect(try await client.send(.xgroupDelConsumer(stream, group: "workers", consumer: "c1")) == .integer(0))
            #expect(try await client.xinfoGroups("\(stream)-missing").isEmpty)
            #expect(try await client.xinfoStream("\(stream)-missing") == nil)
        }
    }

    @Test func blockingReadOnItsOwnClientDoesNotStallOtherCommands() async throws {
        let server = try await RedisTestServer.shared()
        let stream = "\(TestKeys.uniquePrefix()):inbound"
        try await RedisClient.withTestClient(server) { reader in
            try await RedisClient.withTestClient(server) { writer in
                try await writer.xgroupCreate(stream, group: "g")
                async let blocked = reader.xreadgroup(stream, group: "g", consumer: "c", count: 10, block: .seconds(5))
                // The writer keeps working while the reader's connection is parked in BLOCK.
                for _ in 0..<50 { _ = try await writer.send(.ping()) }
                let id = try await writer.xadd(stream, fields: [("k", ByteBuffer(string: "v"))])
                #expect(try await blocked.map(\.id) == [id])
            }
        }
    }
}
