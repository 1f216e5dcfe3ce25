import ArgumentParser

/// `fanout bench` — load generators. Results are recorded, with the exact command, in BENCHMARKS.md.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure Fanout's speed.", subcommands: [
            EchoClosedBenchCommand.self, EchoOpenBenchCommand.self, FanoutBenchCommand.self, ConnsBenchCommand.self, ChurnBenchCommand.self,
            CeilingCommand.self, DirectCommand.self, RedisBenchCommand.self,
        ])
}
