import FanoutClient
import FanoutCore
import FanoutRedis
import FanoutTesting
import NIOCore
import Testing

/// The history scripts against a real Redis: offsets, bytes, trimming, expiry, epochs.
@Suite struct HistoryScriptTests {
    static let settings = HistorySettings(size: 3, ttl: .seconds(60), metaTTL: .seconds(3600))

    static func keys(_ prefix: String) -> (HistoryKeys, String) {
        let keySpace = KeySpace(prefix: prefix)
        let room = RoomName("r")!
        return (HistoryKeys(stream: keySpace.roomHistory(room), offsets: keySpace.roomOffsets(room)), keySpace.room(room))
    }

    static func append(_ redis: RedisClient, _ prefix: String, _ text: String, settings: HistorySettings = settings) async throws -> RedisValue {
        let (keys, channel) = Self.keys(prefix)
        return try await redis.send(HistoryScript.append(
            keys, channel: channel, settings: settings, header: OutboundEnvelope.header(.text, origin: 9, except: []),
            pieces: [ByteBuffer(string: #"{"t":""# + text + #"","offset":"#), ByteBuffer(string: "}")]))
    }

    @Test func appendAssignsConsecutiveOffsetsKeepsTheLastSizeAndPublishesTheSameBytes() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
            let (keys, _) = Self.keys(prefix)
            for index in 1...5 { #expect(try await Self.append(redis, prefix, "m\(index)").int == 0) }  // nobody subscribed
            let state = try HistoryState(reply: try await redis.send(HistoryScript.position(keys, settings: Self.settings)))
            #expect(state.position.offset == 5 && state.oldest == 3)
            let page = try HistoryPage(reply: try await redis.send(HistoryScript.read(keys, after: 3, count: 10)))
            #expect(page.epoch == state.position.epoch && page.offset == 5)
            // What Redis wrote is exactly the envelope the edge would encode for that message.
            let expected = (4...5).map { offset in
                String(buffer: OutboundEnvelope.frame(
                    .text, ByteBuffer(string: #"{"t":"m\#(offset)","offset":\#(offset)}"#), origin: 9,
                    position: StreamPosition(epoch: state.position.epoch, offset: Int64(offset))).encode())
            }
            #expect(page.envelopes.map { String(buffer: $0) } == expected)
            #expect(try await redis.send(RedisCommand("PTTL", [keys.stream])).int.map { $0 > 50_000 && $0 <= 60_000 } == true)
            #expect(try await redis.send(RedisCommand("PTTL", [keys.offsets])).int.map { $0 > 3_500_000 } == true)
        }
    }

    @Test func aRoomWhoseRecordWasLostStartsANewEpochAtOffsetOne() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
            let (keys, _) = Self.keys(prefix)
            _ = try await Self.append(redis, prefix, "a")
            _ = try await Self.append(redis, prefix, "b")
            let before = try HistoryState(reply: try await redis.send(HistoryScript.position(keys, settings: Self.settings)))
            _ = try await redis.send(.del([keys.offsets]))
            _ = try await Self.append(redis, prefix, "c")
            let page = try HistoryPage(reply: try await redis.send(HistoryScript.read(keys, after: 0, count: 10)))
            #expect(page.epoch != before.position.epoch)
            #expect(page.offset == 1 && page.envelopes.count == 1)
            // A read of a room Redis knows nothing about says so.
            _ = try await redis.send(.del([keys.offsets, keys.stream]))
            let empty = try HistoryPage(reply: try await redis.send(HistoryScript.read(keys, after: 0, count: 10)))
            #expect(empty.epoch == nil && empty.offset == 0 && empty.envelopes.isEmpty)
        }
    }

    @Test func thePositionOfARoomWithoutMessagesFixesItsEpoch() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws in
            let (keys, _) = Self.keys(prefix)
            let joined = try HistoryState(reply: try await redis.send(HistoryScript.position(keys, settings: Self.settings)))
            #expect(joined.position.offset == 0 && joined.oldest == nil)
            _ = try await Self.append(redis, prefix, "first")
            let page = try HistoryPage(reply: try await redis.send(HistoryScript.read(keys, after: 0, count: 10)))
            #expect(page.epoch == joined.position.epoch && page.offset == 1)
        }
    }
}

/// The Swift client's memory of rooms (`RoomPositions`): what it rejoins with, what it drops.
@Suite struct RoomPositionsTests {
    @Test func aRejoinNamesTheLastOffsetAndEpochAndDropsWhatWasSeen() {
        var rooms = RoomPositions()
        #expect(rooms.join("r") == #"{"room":"r","type":"join"}"#)
        #expect(rooms.track(#"{"type":"joined","room":"r","offset":4,"epoch":"77","recovered":false}"#) == .deliver)
        #expect(rooms.track(#"{"type":"message","room":"r","from":"e.x","text":"a","offset":5}"#) == .deliver)
        #expect(rooms.join("r") == #"{"epoch":"77","room":"r","since":5,"type":"join"}"#)
        #expect(rooms.track(#"{"type":"joined","room":"r","offset":9,"epoch":"77","recovered":true}"#) == .deliver)
        #expect(rooms.track(#"{"type":"message","room":"r","from":"e.x","text":"a","offset":5}"#) == .drop)
        #expect(rooms.track(#"{"type":"message","room":"r","from":"e.x","text":"b","offset":6}"#) == .deliver)
        #expect(rooms.rooms["r"]?.offset == 6)
    }

    @Test func aRejoinThatCouldNotRecoverIsReportedAndStartsFromTheRoomsOffset() {
        var rooms = RoomPositions()
        _ = rooms.join("r")
        _ = rooms.track(#"{"type":"joined","room":"r","offset":4,"epoch":"77","recovered":false}"#)
        _ = rooms.join("r")
        #expect(rooms.track(#"{"type":"joined","room":"r","offset":90,"epoch":"77","recovered":false,"reason":"trimmed"}"#)
            == .deliverAndRecoveryFailed(room: "r", reason: "trimmed"))
        #expect(rooms.rooms["r"]?.offset == 90)
        #expect(rooms.track(#"{"type":"message","room":"other","offset":1}"#) == .deliver)
    }
}
