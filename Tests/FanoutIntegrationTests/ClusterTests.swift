import FanoutCore
import FanoutEdge
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Foundation
import NIOCore
import Synchronization
import Testing

/// Fanout on a real Redis Cluster (3 masters, started by `RedisClusterTestSetup` on free ports) with
/// six inbound partitions: echo, rooms and users across edges, and a reshard under load.
/// The failover of a shard is in `ClusterFailoverTests`.
@Suite(.serialized) struct ClusterTests {
    @Test func echoOnThreeShardsLosesNothingAndKeepsEachConnectionsOrderInItsPartition() async throws {
        let setup = try await RedisClusterTestSetup.start(masters: 3)
        try await TestCluster.run(edges: 2, workers: 2, cluster: setup, partitions: 6) { cluster in
            // Two partitions per master: the hash tags spread them over the shards.
            var perMaster: [Int: Int] = [:]
            for stream in cluster.keySpace.inboundStreams {
                let master = try #require(await setup.master(serving: HashSlot(key: stream)))
                perMaster[master.port, default: 0] += 1
            }
            #expect(perMaster.values.sorted() == [2, 2, 2], "\(perMaster)")

            let results = try await withTestClients(60, urls: cluster.urls) { clients in
                try await withThrowingTaskGroup(of: (lost: Int, duplicated: Int, foreign: Int).self) { group in
                    for (index, client) in clients.enumerated() {
                        group.addTask {
                            let sent = (0..<50).map { "client-\(index)-message-\($0)" }
                            for message in sent { try await client.send(text: message) }
                            var received: [String] = []
                            for _ in 0..<50 { received.append(try await client.nextText(timeout: .seconds(30))) }
                            let expected = Set(sent)
                            return (expected.subtracting(received).count, received.count - Set(received).count, received.filter { !expected.contains($0) }.count)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let lost = results.map(\.lost).reduce(0, +)
            let duplicated = results.map(\.duplicated).reduce(0, +)
            let foreign = results.map(\.foreign).reduce(0, +)

            // In the streams: each connection's entries all in one partition, in the order sent.
            var partitionsOf: [String: Set<Int>] = [:]
            var sequences: [String: [Int]] = [:]
            for (partition, stream) in cluster.keySpace.inboundStreams.enumerated() {
                for entry in try await cluster.redis.xrange(stream) where entry["kind"].map({ String(buffer: $0) }) == "message" {
                    let connection = entry["conn"].map { String(buffer: $0) } ?? "?"
                    partitionsOf[connection, default: []].insert(partition)
                    let payload = entry["payload"].map { String(buffer: $0) } ?? ""
                    sequences[connection, default: []].append(Int(payload.split(separator: "-").last ?? "") ?? -1)
                }
            }
            let split = partitionsOf.values.filter { $0.count != 1 }.count
            let ordered = sequences.values.filter { $0 == Array(0..<50) }.count
            let used = Set(partitionsOf.values.compactMap(\.first)).count
            print("cluster echo: 60 clients x 50 messages, 2 edges, 2 workers, 3 shards, 6 partitions (\(used) used): lost \(lost), duplicated \(duplicated), misrouted \(foreign), connections split over partitions \(split), in stream order \(ordered)/\(sequences.count)")
            #expect(lost == 0 && duplicated == 0 && foreign == 0)
            #expect(sequences.count == 60 && split == 0 && ordered == 60)
            #expect(used == 6)
            #expect(try await eventually {
                let stats = try await StatsSnapshot.collect(redis: cluster.redis, keySpace: cluster.keySpace)
                return stats.partitions.count == 6 && stats.lag == 0 && stats.pending == 0 && stats.streamLength >= 60 * 52
            }, "every partition drained")
        }
    }

    @Test func roomsAndUsersReachTheirMembersOnEveryEdge() async throws {
        let setup = try await RedisClusterTestSetup.start(masters: 3)
        try await TestCluster.run(edges: 2, workers: 2, handler: ChatHandler(), cluster: setup, partitions: 6) { cluster in
            try await withTestClients(40, urls: cluster.urls) { clients in
                for client in clients {
                    try await client.send(text: FanOutTests.join("hall"))
                    #expect(try await client.nextText().hasPrefix(FanOutTests.joinedPrefix("hall")))
                }
                for index in 0..<30 { try await clients[index % 4].send(text: FanOutTests.say("hall", "m\(index)")) }
                var exact = 0
                for member in clients {
                    var seen: [String: Int] = [:]
                    for _ in 0..<30 {
                        let text = try await member.nextText(timeout: .seconds(30))
                        if let body = ChatFrame(text)?.body { seen[body, default: 0] += 1 }
                    }
                    if seen.count == 30 && seen.values.allSatisfy({ $0 == 1 }) { exact += 1 }
                }
                print("cluster rooms: 40 members on 2 edges x 30 broadcasts: \(exact) received all exactly once")
                #expect(exact == 40)
                #expect(try await cluster.redis.send(.scard("\(cluster.keySpace.prefix):presence:room:hall")).int == 40)
            }
        }
        try await TestCluster.run(edges: 2, workers: 1, handler: WhoAmIHandler(), cluster: setup, partitions: 6, configureEdge: {
            $0.authentication = .optional
            $0.jwtSecret = AuthenticationTests.secret
        }) { cluster in
            let alice = try await AuthenticationTests.hs256(AuthenticationTests.valid("alice"))
            let bob = try await AuthenticationTests.hs256(AuthenticationTests.valid("bob"))
            let urls = [cluster.url(edge: 0) + "?token=\(alice)", cluster.url(edge: 1) + "?token=\(alice)", cluster.url(edge: 1) + "?token=\(bob)"]
            try await withTestClients(urls.count, urls: urls) { clients in
                // An answer to alice's connections means their user channel is subscribed (that comes
                // before their `open` entry): bob's message cannot overtake it.
                for alice in clients[0...1] {
                    try await alice.send(text: "who")
                    #expect(try await alice.nextText() == "user:alice")
                }
                try await clients[2].send(text: "to alice hello alice")
                #expect(try await clients[0].nextText() == "hello alice")
                #expect(try await clients[1].nextText() == "hello alice")
            }
        }
    }

    @Test func workersTrimEveryPartitionOnItsOwnShard() async throws {
        let setup = try await RedisClusterTestSetup.start(masters: 3)
        // Each partition's trim snapshot is a MULTI … EXEC with the partition's stream, lease and
        // trim report, one slot by their hash tag (partition 0's adds the dead letters).
        try await TestCluster.run(edges: 1, workers: 2, cluster: setup, partitions: 6, configureWorker: TrimTests.fastTrim(0)) { cluster in
            try await withTestClients(40, urls: cluster.urls) { clients in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, client) in clients.enumerated() {
                        group.addTask {
                            for sequence in 0..<60 { try await client.send(text: "trim-\(index)-\(sequence)") }
                            var replies: Set<String> = []
                            for _ in 0..<60 { replies.insert(try await client.nextText(timeout: .seconds(30))) }
                            // Two workers share a partition: replies may interleave, none may be missing.
                            #expect(replies == Set((0..<60).map { "trim-\(index)-\($0)" }))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // Retention 0: everything processed goes, but for the last radix-tree node (`~`).
            let bound = TrimTests.nodeSlack
            let trimmed = await eventually(within: .seconds(20)) {
                for stream in cluster.keySpace.inboundStreams where (try? await cluster.redis.xlen(stream)) ?? .max > bound { return false }
                return true
            }
            var lengths: [Int] = []
            for stream in cluster.keySpace.inboundStreams { lengths.append(try await cluster.redis.xlen(stream)) }
            print("cluster trimming: 40 clients x 60 messages over 6 partitions, retention 0: partition lengths after \(lengths)")
            #expect(trimmed, "every partition trimmed to what is unprocessed (+ one node): \(lengths)")
            // The last batch's XACK goes out with the worker's next write: pending reaches 0 soon after.
            #expect(try await eventually {
                let stats = try await StatsSnapshot.collect(redis: cluster.redis, keySpace: cluster.keySpace)
                return stats.lag == 0 && stats.pending == 0
            })
        }
    }

    @Test func reshardingSlotsWithAPartitionAndChannelsUnderLoadLosesNothing() async throws {
        let setup = try await RedisClusterTestSetup.start(masters: 3)
        try await TestCluster.run(edges: 2, workers: 2, cluster: setup, partitions: 6, configureWorker: {
            $0.claimIdle = .seconds(1)  // results unheard while a channel moves are handled again after this
        }) { cluster in
            let moved = cluster.keySpace.inboundStreams[0]
            let source = setup.servers[0], target = setup.servers[1]
            #expect(await setup.master(serving: HashSlot(key: moved))?.port == source.port)
            let phase = SharedCounter()
            let output = LastOutput()
            let totals = try await withTestClients(20, urls: cluster.urls) { clients in
                try await withThrowingTaskGroup(of: OutageTally.self) { group in
                    for (index, client) in clients.enumerated() {
                        group.addTask { try await OutageTally.run(client: client, index: index, drain: .seconds(30), until: { phase.value == 1 }) }
                    }
                    group.addTask {
                        try await Task.sleep(for: .seconds(1))  // steady load before the reshard, not a wait for an event
                        // Slots 0-1999: partition 0's stream (slot 1388) with its group and pending
                        // entries, and about an eighth of the connections' channels.
                        output.set(try await setup.reshard(slots: 2000, from: source, to: target))
                        try await Task.sleep(for: .seconds(1))  // steady load after it
                        phase.store(1)
                        return OutageTally()
                    }
                    return try await group.reduce(into: OutageTally()) { $0.add($1) }
                }
            }
            #expect(await setup.master(serving: HashSlot(key: moved))?.port == target.port, "redis-cli said:\n\(output.value.suffix(1500))")
            let stored = Set(try await cluster.acceptedMessages())
            let missing = totals.accepted.filter { !stored.contains($0) }
            print("cluster reshard of 2000 slots (a partition and its group, channels) under load, 20 clients: sent \(totals.sent), accepted \(totals.accepted.count), refused \(totals.refused), answered \(totals.replies), missing from the streams \(missing.count), accepted but unanswered \(totals.unanswered.count), closed \(totals.closed)")
            #expect(missing.isEmpty && totals.unanswered.isEmpty, "missing: \(missing.prefix(5)), unanswered: \(totals.unanswered.prefix(5))")
            #expect(totals.closed == 0)
            #expect(try await eventually(within: .seconds(30)) {
                let stats = try await StatsSnapshot.collect(redis: cluster.redis, keySpace: cluster.keySpace)
                return stats.lag == 0 && stats.pending == 0
            }, "the moved partition is read on its new master until nothing is left")
        }
    }
}

/// The last text a task stored, for failure messages.
final class LastOutput: Sendable {
    private let storage = Mutex("")
    func set(_ value: String) { storage.withLock { $0 = value } }
    var value: String { storage.withLock { $0 } }
}
