import FanoutRedis
import FanoutTesting
import Logging
import NIOCore
import Testing

/// The cluster client's routing against a real 3-master cluster: a stale slot map is corrected by
/// `MOVED` (after `redis-cli --cluster reshard`), and a slot being migrated by hand is written
/// through `ASK` + `ASKING` on the importing node.
@Suite(.serialized) struct ClusterRedirectTests {
    @Test func commandsFollowMovedAfterAReshardAndAskDuringAMigration() async throws {
        let setup = try await RedisClusterTestSetup.start(masters: 3)
        let first = setup.servers[0], second = setup.servers[1], third = setup.servers[2]
        try await RedisClient.withConnectedClient(configuration: setup.configuration, logger: Logger(label: "cluster-redirect-test"), timeout: .seconds(10)) { redis in
            // MOVED: a key in slots 0-49 (the first master's), written, then its slot resharded away.
            let moving = try #require((0..<100_000).lazy.map { "moved-\($0)" }.first { HashSlot(key: $0).value < 50 })
            #expect(try await redis.send(.set(moving, ByteBuffer(string: "before"))).string == "OK")
            try await setup.reshard(slots: 50, from: first, to: second)
            #expect(await setup.master(serving: HashSlot(key: moving))?.port == second.port)
            // The client still maps the slot to the first master, which answers MOVED: followed.
            #expect(try await redis.send(.get(moving)).string == "before")
            #expect(try await redis.pipeline([.set(moving, ByteBuffer(string: "after")), .get(moving)]).last?.string == "after")

            // ASK: a slot of the third master half-way through a migration to the first. A key the
            // source does not hold is answered with ASK, and written on the importing node.
            let asked = try #require((0..<100_000).lazy.map { "asked-\($0)" }.first { HashSlot(key: $0).value > 16_000 })
            let slot = String(HashSlot(key: asked).value)
            #expect(await setup.master(serving: HashSlot(key: asked))?.port == third.port)
            let sourceID = try await setup.nodeID(of: third), targetID = try await setup.nodeID(of: first)
            #expect(try await RedisClusterTestSetup.send(RedisCommand("CLUSTER", ["SETSLOT", slot, "IMPORTING", sourceID]), to: first).string == "OK")
            #expect(try await RedisClusterTestSetup.send(RedisCommand("CLUSTER", ["SETSLOT", slot, "MIGRATING", targetID]), to: third).string == "OK")
            #expect(try await redis.send(.set(asked, ByteBuffer(string: "imported"))).string == "OK")
            // The write is on the importing node (read there with ASKING), not on the source.
            let onTarget = try await RedisClient.withTestClient(first) { try await $0.pipeline([RedisCommand("ASKING"), .get(asked)]) }
            #expect(onTarget.last?.string == "imported")
            // Finish the migration as redis-cli does; the client then follows MOVED to the new owner.
            for server in [first, second, third] {
                _ = try await RedisClusterTestSetup.send(RedisCommand("CLUSTER", ["SETSLOT", slot, "NODE", targetID]), to: server)
            }
            #expect(try await eventually { try await redis.send(.get(asked)).string == "imported" })
        }
    }
}
