import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import Testing

/// The edge's XADD writes with `FANOUT_APPEND_ONE_WRITE` (decision 0045), against a real edge and
/// Redis: while an XADD's reply is due (Redis paused with `CLIENT PAUSE … WRITE`), frames arriving
/// in later ticks are held and go out as one write; with the setting off, each tick writes its own.
/// Counted with the edge's `fanout_redis_write_batch_commands` histogram.
@Suite(.serialized) struct AppendWriteTests {
    /// Sends `frames` frames one tick apart while Redis holds every write command, then lets Redis
    /// go; returns the edge's (writes, commands) to Redis meanwhile, once all frames are in the stream.
    private func writesWhileRedisIsPaused(oneWriteInFlight: Bool, frames: Int) async throws -> (writes: Double, commands: Double) {
        let server = try await RedisTestServer.start()
        let keySpace = KeySpace(prefix: TestKeys.uniquePrefix())
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(
            redisURL: server.url, prefix: keySpace.prefix, port: port, edgeID: "edge0",
            environment: [
                "FANOUT_EVENT_LOOPS": "1", "FANOUT_APPEND_ONE_WRITE": String(oneWriteInFlight), "FANOUT_RATE_LIMIT": "0",
                // The edge publishes its traffic counters once a second: the pause lasts a few.
                "FANOUT_REDIS_COMMAND_TIMEOUT_MS": "60000",
            ])
        let result = try await RedisClient.withTestClient(server) { redis in
            try await withTestClients(1, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
                // The connection's `open` entry is in: nothing of the edge's is due any more.
                #expect(try await eventually { try await redis.send(RedisCommand("XLEN", [keySpace.inbound])).int == 1 })
                let before = try await HTTPGet.body(port: port, path: "/metrics")
                _ = try await redis.send(RedisCommand("CLIENT", ["PAUSE", "30000", "WRITE"]))
                for index in 1...frames {
                    try await clients[0].send(text: "m\(index)")
                    // Each frame read by the edge (and its XADD enqueued) before the next is sent
                    // (the counter is published once a second).
                    #expect(try await eventually {
                        metricValue(try await HTTPGet.body(port: port, path: "/metrics"), "fanout_edge_messages_in_total") == Double(index)
                    })
                }
                _ = try await redis.send(RedisCommand("CLIENT", ["UNPAUSE"]))
                #expect(try await eventually { try await redis.send(RedisCommand("XLEN", [keySpace.inbound])).int == Int64(1 + frames) })
                let after = try await HTTPGet.body(port: port, path: "/metrics")
                func delta(_ name: String) -> Double { (metricValue(after, name) ?? 0) - (metricValue(before, name) ?? 0) }
                return (delta("fanout_redis_write_batch_commands_count"), delta("fanout_redis_write_batch_commands_sum"))
            }
        }
        _ = await edge.terminate()
        await server.stop()
        return result
    }

    // The histogram counts every Redis connection of the edge; the others (the subscriber's, the
    // samplers') write one command at a time. So "commands − writes" counts the commands that
    // shared a write with another: the held frames' XADDs, when the setting is on.

    @Test func framesArrivingWhileAnXADDIsUnansweredGoOutAsOneWrite() async throws {
        let (writes, commands) = try await writesWhileRedisIsPaused(oneWriteInFlight: true, frames: 5)
        // The first frame's XADD alone, then the four held behind it in one write.
        #expect(commands - writes >= 3, "\(writes) writes for \(commands) commands")
    }

    @Test func withTheSettingOffEveryTickWritesItsOwn() async throws {
        let (writes, commands) = try await writesWhileRedisIsPaused(oneWriteInFlight: false, frames: 5)
        #expect(commands >= 5 && commands - writes <= 2, "\(writes) writes for \(commands) commands")
    }
}
