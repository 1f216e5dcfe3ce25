import FanoutCore
import FanoutRedis
import NIOCore
import Testing

@testable import FanoutWorker

/// What a batch's pipeline replies mean for each entry, and how a batch is spread over lanes.
@Suite struct BatchPlanTests {
    let keySpace = KeySpace(prefix: "t")
    let alice = ConnectionID("e1.alice")!
    let bob = ConnectionID("e1.bob")!

    func reply(_ effects: ConnectionID) -> Effect {
        .publish(channel: keySpace.connection(effects), envelope: .frame(.text, ByteBuffer(string: "x")), audience: .connection)
    }

    @Test func onlyTheEntryWhoseCommandFailedStaysPending() {
        var plan = BatchPlan(keySpace: keySpace)
        plan.add([reply(alice)], for: "1-0")
        plan.add([reply(bob), reply(alice)], for: "2-0")
        plan.add([], for: "3-0")
        plan.addDeadLetter(RedisCommand("XADD", ["t:dead", "*", "reason", "x"]), for: "4-0", reason: "malformed entry: x")
        #expect(plan.commands.count == 4)
        let outcome = plan.evaluate([.integer(1), .integer(1), .error("ERR boom"), .bulkString(ByteBuffer(string: "9-0"))])
        #expect(outcome.acknowledged == ["1-0", "3-0"])
        #expect(outcome.failed.map(\.id) == ["2-0"])
        #expect(outcome.deadLettered.map(\.id) == ["4-0"])
        #expect(outcome.undeliverable == 0)
    }

    @Test func anUnheardJoinIsUndeliverableAndItsPresenceIsRemovedAgain() {
        var plan = BatchPlan(keySpace: keySpace)
        plan.add([.join(alice, RoomName("lobby")!), reply(bob)], for: "1-0")
        // SADD, SADD, PUBLISH join (nobody), PUBLISH reply (nobody)
        let outcome = plan.evaluate([.integer(1), .integer(1), .integer(0), .integer(0)])
        #expect(outcome.acknowledged == ["1-0"])
        #expect(outcome.undeliverable == 1, "the join's connection is gone")
        // The unheard reply is settled by the worker: undeliverable if bob's edge no longer lists
        // him, or retried (the entry left pending) if it does — a subscriber reconnecting.
        #expect(outcome.unheard.map(\.connection) == [bob])
        #expect(outcome.cleanup.map(\.name) == ["SREM", "DEL"])
    }

    @Test func aBatchWithNothingToPublishIsStillAcknowledged() {
        var plan = BatchPlan(keySpace: keySpace)
        plan.add([], for: "1-0")
        #expect(!plan.isEmpty && plan.commands.isEmpty)
        #expect(plan.evaluate([]).acknowledged == ["1-0"])
    }

    @Test func lanesKeepEachConnectionsEntriesTogetherAndInOrder() {
        let jobs = (0..<200).map { index in
            StreamEntryJob(
                entry: StreamEntry(id: "\(index)-0", fields: [StreamEntry.Field(name: "conn", value: ByteBuffer(string: "e1.c\(index % 13)"))]),
                deliveries: 1)
        }
        let lanes = BatchRunner.partition(jobs, lanes: 4)
        #expect(lanes.count <= 4 && lanes.count > 1)
        #expect(lanes.flatMap { $0 }.sorted() == Array(jobs.indices))
        for lane in lanes { #expect(lane == lane.sorted(), "stream order within a lane") }
        var laneOfConnection: [String: Int] = [:]
        for (laneIndex, lane) in lanes.enumerated() {
            for index in lane {
                let key = jobs[index].connectionKey
                #expect(laneOfConnection[key, default: laneIndex] == laneIndex, "\(key) split across lanes")
                laneOfConnection[key] = laneIndex
            }
        }
    }
}
