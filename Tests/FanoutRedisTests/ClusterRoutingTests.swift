@testable import FanoutRedis
import NIOCore
import Testing

/// Hash slots, `redis-cluster://` URLs, `CLUSTER SLOTS` replies and which key routes a command.
struct ClusterRoutingTests {
    @Test func hashSlotsMatchTheClusterSpecification() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)  // the specification's check value
        #expect(HashSlot(key: "foo").value == 12182)
        #expect(HashSlot(key: "bar").value == 5061)
        // A hash tag: only what is between the first { and the next } counts …
        #expect(HashSlot(key: "{user1000}.following") == HashSlot(key: "user1000"))
        #expect(HashSlot(key: "fanout:inbound:{p0-13}") == HashSlot(key: "p0-13"))
        // … unless it is empty, when the whole key does.
        #expect(HashSlot(key: "foo{}{bar}") == HashSlot(key: "foo{}{bar}"))
        #expect(HashSlot(key: "foo{}{bar}") != HashSlot(key: "bar"))
        #expect(HashSlot(key: "foo{{bar}}zap") == HashSlot(key: "{bar"))
    }

    @Test func clusterURLsNameSeedsAndHideThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis-cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002")
        #expect(configuration.cluster?.seeds == [
            RedisAddress(host: "10.0.0.1", port: 7000), RedisAddress(host: "10.0.0.2", port: 6379), RedisAddress(host: "::1", port: 7002),
        ])
        #expect(configuration.username == "app" && configuration.password == "s@cret")
        #expect(configuration.redactedURL == "redis-cluster://app:***@10.0.0.1:7000,10.0.0.2:6379,[::1]:7002")
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis-cluster://h:1/2") }
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis-cluster://h:99999") }
    }

    @Test func aSlotsReplyBecomesAMapOfMasters() throws {
        func node(_ host: String, _ port: Int) -> RedisValue { .array([.bulkString(ByteBuffer(string: host)), .integer(Int64(port)), .bulkString(ByteBuffer(string: "id"))]) }
        let reply = RedisValue.array([
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),  // "" = the address asked
            .array([.integer(10923), .integer(16383), node("127.0.0.1", 7002)]),
        ])
        let map = try ClusterSlotMap(slotsReply: reply, queried: RedisAddress(host: "10.1.1.1", port: 7001))
        #expect(map.masters.map(\.description) == ["127.0.0.1:7000", "10.1.1.1:7001", "127.0.0.1:7002"])
        #expect(map.coversAllSlots)
        #expect(map.slotCounts == [5461, 5462, 5461])
        #expect(map.address(for: HashSlot(key: "foo"))?.port == 7002)
        let partial = try ClusterSlotMap(slotsReply: .array([.array([.integer(0), .integer(99), node("h", 1)])]), queried: RedisAddress(host: "h", port: 1))
        #expect(!partial.coversAllSlots && partial.master(for: HashSlot(100)) == nil)
    }

    @Test func commandsRouteByTheirKey() {
        #expect(RedisCommand.get("foo").hashSlot == HashSlot(key: "foo"))
        #expect(RedisCommand.xinfoGroups("s{t}").hashSlot == HashSlot(key: "t"))
        #expect(RedisCommand.xgroupCreate("stream", group: "g").hashSlot == HashSlot(key: "stream"))
        #expect(RedisCommand.xreadgroup("in", group: "g", consumer: "c", count: 5, block: .seconds(1)).hashSlot == HashSlot(key: "in"))
        #expect(RedisCommand("EVAL", ["return 1", "1", "k"]).hashSlot == HashSlot(key: "k"))
        #expect(RedisCommand("EVAL", ["return 1", "0"]).hashSlot == nil)
        #expect(RedisCommand.ping().hashSlot == nil)
        #expect(RedisCommand("CLUSTER", ["SLOTS"]).hashSlot == nil)
        let publish = RedisCommand.publish("chan", ByteBuffer(bytes: [0, 0xFF, 10]))
        let sharded = publish.renamed("SPUBLISH")
        #expect(sharded.name == "SPUBLISH" && sharded.arguments == publish.arguments)
        #expect(sharded.hashSlot == HashSlot(key: "chan"))
    }

    @Test func aTransactionGoesToTheSlotOfItsFirstKey() {
        let commands: [RedisCommand] = [
            .get("before"), RedisCommand("MULTI"), RedisCommand("SET", ["lease{t}", "me", "NX"]), .xinfoStream("stream{t}"),
            RedisCommand("TIME"), RedisCommand("EXEC"), .get("after"),
        ]
        let prepared = RedisClusterClient.keepingTransactionsTogether(commands.map { ($0, $0.hashSlot) })
        #expect(prepared.map(\.slot) == [
            HashSlot(key: "before"), HashSlot(key: "t"), HashSlot(key: "t"), HashSlot(key: "t"), HashSlot(key: "t"), HashSlot(key: "t"),
            HashSlot(key: "after"),
        ])
        #expect(prepared.indices.map { RedisClusterClient.isInTransaction($0, prepared) } == [false, true, true, true, true, true, false])
    }

    @Test func redirectionsAreRead() {
        #expect(RedisClusterClient.redirect(in: .error("MOVED 3999 127.0.0.1:6381")).map { "\($0.ask) \($0.address)" } == "false 127.0.0.1:6381")
        #expect(RedisClusterClient.redirect(in: .error("ASK 3999 ::1:6381")).map { "\($0.ask) \($0.address)" } == "true [::1]:6381")
        #expect(RedisClusterClient.redirect(in: .error("ERR nope")) == nil)
        #expect(RedisError.meansSlotMoved("CLUSTERDOWN Hash slot not served"))
    }
}
