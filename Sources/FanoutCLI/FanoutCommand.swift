import ArgumentParser
import FanoutCore

/// `fanout` — composition only: parse arguments, build configuration, run the role's services.
@main
struct FanoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "A message-queue-backed WebSocket fan-out system on Redis streams.",
        subcommands: [EdgeCommand.self, WorkerCommand.self, StatsCommand.self, BenchCommand.self]
    )
}

/// Options every role takes. Each flag overrides the environment variable named in its help,
/// which overrides the configuration file, which overrides the default.
struct CommonOptions: ParsableArguments {
    @Option(help: "Redis URL, redis://[user:password@]host:port[/db] (FANOUT_REDIS_URL; default redis://127.0.0.1:6379).")
    var redisURL: String?

    @Option(help: "Prefix of every Redis key and channel (FANOUT_KEY_PREFIX; default fanout).")
    var keyPrefix: String?

    @Option(help: "A KEY=value configuration file (FANOUT_CONFIG).")
    var config: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (FANOUT_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(help: "text or json (FANOUT_LOG_FORMAT; default text).")
    var logFormat: String?

    /// The flags that were given, by configuration key.
    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["FANOUT_REDIS_URL"] = redisURL
        flags["FANOUT_KEY_PREFIX"] = keyPrefix
        flags["FANOUT_LOG_LEVEL"] = logLevel
        flags["FANOUT_LOG_FORMAT"] = logFormat
        return flags
    }

    func reader(adding roleFlags: [String: String]) throws -> ConfigurationReader {
        try ConfigurationReader.load(flags: flags.merging(roleFlags) { _, role in role }, configPath: config)
    }
}
