import ArgumentParser
import FanoutCore
import FanoutRedis
import Foundation
import Logging

/// `fanout stats` — queue depth and worker state, for operators.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show stream length, backlog (lag + pending), Redis used_memory, dead letters, consumers and live edges.")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Print again every --interval seconds until interrupted.")
    var watch = false

    @Option(help: "Seconds between prints with --watch.")
    var interval: Double = 2

    func run() async throws {
        let common: CommonConfiguration
        do {
            common = try CommonConfiguration(reader: try self.common.reader(adding: [:]))
        } catch {
            exitWithOneLine("stats", "\(error)")
        }
        let logger = Logger(label: "fanout.stats")
        try await RedisClient.connectedForTool("stats", common.redis, logger: logger) { client in
            repeat {
                let snapshot = try await StatsSnapshot.collect(redis: client, keySpace: common.keySpace)
                print(json ? snapshot.json() : snapshot.table())
                if watch { try await Task.sleep(for: .milliseconds(Int(interval * 1000))) }
            } while watch
        }
    }
}
