import ArgumentParser
import FanoutCore
import FanoutRedis
import Foundation
import Logging
import NIOCore
import Synchronization

/// `fanout bench redis` — pipelined XADD and PUBLISH throughput through Fanout's Redis client, with
/// many concurrent tasks each awaiting its own reply (the way edges and workers use the client).
/// Compare with `redis-benchmark -P 16` for the same commands (scripts/bench-redis.sh runs both).
struct RedisBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redis", abstract: "Redis client throughput (XADD, PUBLISH).")

    @OptionGroup var common: CommonOptions

    @Option(help: "Commands per test.")
    var requests = 200_000

    @Option(help: "Concurrent tasks, each sending one command at a time.")
    var tasks = 64

    @Option(help: "Commands each task sends per round trip: 1 relies on automatic pipelining alone; 16 matches redis-benchmark -P 16.")
    var pipeline = 1

    @Option(help: "Payload bytes per command.")
    var payload = 64

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let common: CommonConfiguration
        do {
            common = try CommonConfiguration(reader: try self.common.reader(adding: [:]))
        } catch {
            exitWithOneLine("bench redis", "\(error)")
        }
        var logger = Logger(label: "fanout.bench")
        logger.logLevel = .warning
        try await RedisClient.connectedForTool("bench redis", common.redis, logger: logger) { client in
            let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: payload)
            let stream = "\(common.keySpace.prefix):bench:stream"
            let channel = "\(common.keySpace.prefix):bench:channel"
            _ = try await client.send(.del([stream]))
            var results: [(String, Double)] = []
            for (name, command) in [("XADD", RedisCommand.xadd(stream, fields: [("f", body)])), ("PUBLISH", .publish(channel, body))] {
                // Warm-up, then the measured run.
                _ = try await measure(client: client, command: command, count: min(requests / 10, 20_000))
                let rate = try await measure(client: client, command: command, count: requests)
                results.append((name, rate))
            }
            _ = try await client.send(.del([stream]))
            if json {
                print("{" + results.map { "\"\($0.0)\":\(Int($0.1))" }.joined(separator: ",") + "}")
            } else {
                for (name, rate) in results {
                    print("\(name): \(Int(rate)) requests per second (\(tasks) tasks, pipeline \(pipeline), \(payload)-byte payload)")
                }
            }
        }
    }

    /// Sends `count` copies of `command` from `tasks` concurrent tasks; returns commands per second.
    private func measure(client: RedisClient, command: RedisCommand, count: Int) async throws -> Double {
        let remaining = Countdown(count)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    if pipeline <= 1 {
                        while remaining.take() {
                            _ = try await client.send(command)
                        }
                    } else {
                        let batch = Array(repeating: command, count: pipeline)
                        while remaining.take(pipeline) {
                            _ = try await client.pipeline(batch)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(count) / seconds
    }
}

/// Hands out `count` tickets to concurrent tasks.
final class Countdown: Sendable {
    private let remaining: Atomic<Int>
    init(_ count: Int) { remaining = Atomic(count) }
    /// `true` while tickets remain; takes `count` of them.
    func take(_ count: Int = 1) -> Bool { remaining.subtract(count, ordering: .relaxed).oldValue > 0 }
}
