import FanoutCore
import FanoutRedis
import Testing

/// `FANOUT_STREAM_PARTITIONS`: names, placement over a cluster's slots, and the partition of a connection.
struct KeySpacePartitionTests {
    @Test func onePartitionIsTodaysSingleStream() {
        let keySpace = KeySpace(prefix: "fanout")
        #expect(keySpace.inboundStreams == ["fanout:inbound"])
        #expect(keySpace.inboundStream(for: ConnectionID("e1.abc")!) == "fanout:inbound")
    }

    @Test func partitionsAreHashTaggedAndSpreadEvenlyOverTheSlots() {
        for count in [2, 3, 6, 12, 64] {
            let keySpace = KeySpace(prefix: "fanout", partitions: count)
            #expect(keySpace.inboundStreams.count == count && Set(keySpace.inboundStreams).count == count)
            for (index, stream) in keySpace.inboundStreams.enumerated() {
                #expect(stream.hasPrefix("fanout:inbound:{p\(index)-"))
                // Each partition sits in the middle half of its 1/count of the slot space, so with
                // shards owning equal contiguous ranges (redis-cli --cluster create) they spread evenly.
                let width = Double(HashSlot.count) / Double(count)
                let slot = Double(HashSlot(key: stream).value) + 0.5
                #expect(slot >= width * (Double(index) + 0.25) && slot <= width * (Double(index) + 0.75), "\(stream)")
            }
        }
        // Six partitions over three equal shards: two each.
        let six = KeySpace(prefix: "x", partitions: 6).inboundStreams.map { HashSlot(key: $0).value * 3 / HashSlot.count }
        #expect(six == [0, 0, 1, 1, 2, 2])
        // The prefix is outside the tag: every deployment places its partitions alike.
        #expect(KeySpace(prefix: "a", partitions: 4).inboundStreams.map { HashSlot(key: $0) }
            == KeySpace(prefix: "b", partitions: 4).inboundStreams.map { HashSlot(key: $0) })
    }

    @Test func aConnectionAlwaysMapsToTheSamePartitionAndConnectionsSpread() {
        let keySpace = KeySpace(prefix: "fanout", partitions: 6)
        var counts = [Int](repeating: 0, count: 6)
        for index in 0..<6000 {
            let id = ConnectionID("e1.\(String(index, radix: 16))")!
            let partition = keySpace.inboundPartition(of: id)
            #expect(keySpace.inboundStream(for: id) == keySpace.inboundStreams[partition])
            #expect(KeySpace(prefix: "fanout", partitions: 6).inboundPartition(of: id) == partition)
            counts[partition] += 1
        }
        #expect(counts.allSatisfy { (800...1200).contains($0) }, "\(counts)")
    }

    @Test func clusterNamesKeepWhatIsUsedTogetherOnOneSlot() throws {
        let plain = KeySpace(prefix: "fanout")
        #expect(plain.room(RoomName("hall")!) == "fanout:room:hall" && plain.roomHistory(RoomName("hall")!) == "fanout:history:room:hall")
        #expect(plain.trimLease == "fanout:trim-lease" && plain.trimLost == "fanout:trim-lost" && plain.deadLetters == "fanout:dead")
        for partitions in [1, 6] {
            let keySpace = KeySpace(prefix: "fanout", partitions: partitions, cluster: true)
            // A room's channel, history and offsets: the history script touches all three.
            let room = RoomName("hall")!, user = UserID("alice")!
            #expect(keySpace.room(room) == "fanout:room:{hall}")
            let roomKeys = keySpace.roomHistoryKeys(room), userKeys = keySpace.userHistoryKeys(user)
            #expect(roomKeys.sharded && userKeys.sharded)
            #expect(Set([keySpace.room(room), roomKeys.stream, roomKeys.offsets].map { HashSlot(key: $0) }).count == 1)
            #expect(Set([keySpace.user(user), userKeys.stream, userKeys.offsets].map { HashSlot(key: $0) }).count == 1)
            #expect(keySpace.historyKeys(ofChannel: keySpace.room(room)) == roomKeys)
            // Each partition with its trim lease and report (the trim snapshot's MULTI), partition 0 with the dead letters.
            for (index, stream) in keySpace.inboundStreams.enumerated() {
                let slots = [stream, keySpace.trimLease(partition: index), keySpace.trimLost(partition: index)].map { HashSlot(key: $0) }
                #expect(Set(slots).count == 1, "\(stream)")
            }
            #expect(HashSlot(key: keySpace.deadLetters) == HashSlot(key: keySpace.inboundStreams[0]))
        }
    }

    @Test func thePartitionCountIsReadAndBounded() throws {
        let reader = ConfigurationReader(environment: ["FANOUT_STREAM_PARTITIONS": "6"])
        #expect(try CommonConfiguration(reader: reader).keySpace.partitions == 6)
        #expect(try CommonConfiguration(reader: ConfigurationReader()).keySpace.partitions == 1)
        #expect(throws: ConfigurationError.self) { try CommonConfiguration(reader: ConfigurationReader(environment: ["FANOUT_STREAM_PARTITIONS": "0"])) }
        #expect(throws: ConfigurationError.self) { try CommonConfiguration(reader: ConfigurationReader(environment: ["FANOUT_STREAM_PARTITIONS": "257"])) }
    }
}
