import Foundation
public import FanoutCore

/// Everything a worker process can be told. Each field names its key; defaults are what a fresh
/// `fanout worker` uses. The README's configuration table lists the same keys.
public struct WorkerConfiguration: Sendable {
    /// Redis URL and key prefix (`FANOUT_REDIS_URL`, `FANOUT_KEY_PREFIX`).
    public var common: CommonConfiguration
    /// `FANOUT_CONSUMER_NAME` — this process's consumer name in group `workers`; default unique per
    /// process: `<host>-<pid>-<random>`. Set it only to a name no other live worker uses.
    public var consumerName: String
    /// `FANOUT_HANDLER` — the built-in handler to run: `echo`, `chat` or `burn` (200 µs of CPU, then echo; for benchmarks).
    public var handlerName: String
    /// `FANOUT_CONCURRENCY` — lanes a batch is spread over when handlers are slow (each lane a
    /// child task with whole connections, default 64); quick handlers run a batch in place.
    public var concurrency: Int
    /// `FANOUT_BATCH_SIZE` — the most entries one XREADGROUP asks for (default 128).
    public var batchSize: Int
    /// `FANOUT_BLOCK_MS` — how long one XREADGROUP waits for new entries (default 1000). Also bounds how
    /// quickly a graceful shutdown stops reading.
    public var blockTime: Duration
    /// `FANOUT_CLAIM_IDLE_MS` — an entry pending this long on any consumer is reclaimed and processed again (default 15000).
    public var claimIdle: Duration
    /// `FANOUT_MAX_DELIVERIES` — after this many failed deliveries an entry goes to the dead-letter stream (default 5).
    public var maxDeliveries: Int
    /// `FANOUT_SHUTDOWN_TIMEOUT_MS` — how long a graceful shutdown may take before in-flight work is abandoned (default 10000).
    public var shutdownTimeout: Duration
    /// `FANOUT_METRICS_PORT` — HTTP port for `/metrics`, `/healthz`, `/readyz` (default 9090; 0 disables).
    public var metricsPort: Int

    public init(common: CommonConfiguration = CommonConfiguration(), handlerName: String = "echo") {
        self.common = common
        self.consumerName = Self.uniqueConsumerName()
        self.handlerName = handlerName
        self.concurrency = 64
        self.batchSize = 128
        self.blockTime = .seconds(1)
        self.claimIdle = .seconds(15)
        self.maxDeliveries = 5
        self.shutdownTimeout = .seconds(10)
        self.metricsPort = 9090
    }

    public init(reader: ConfigurationReader) throws(ConfigurationError) {
        self.init(common: try CommonConfiguration(reader: reader), handlerName: reader.string("FANOUT_HANDLER", default: "echo"))
        concurrency = try reader.int("FANOUT_CONCURRENCY", default: concurrency, range: 1...100_000)
        batchSize = try reader.int("FANOUT_BATCH_SIZE", default: batchSize, range: 1...10_000)
        blockTime = try reader.milliseconds("FANOUT_BLOCK_MS", default: blockTime)
        claimIdle = try reader.milliseconds("FANOUT_CLAIM_IDLE_MS", default: claimIdle)
        maxDeliveries = try reader.int("FANOUT_MAX_DELIVERIES", default: maxDeliveries, range: 1...1000)
        shutdownTimeout = try reader.milliseconds("FANOUT_SHUTDOWN_TIMEOUT_MS", default: shutdownTimeout)
        metricsPort = try reader.int("FANOUT_METRICS_PORT", default: metricsPort, range: 0...65535)
        if let name = reader.string("FANOUT_CONSUMER_NAME") { consumerName = name }
    }

    /// `<host>-<pid>-<4 random hex>`: unique per process even when containers share a hostname and PID 1.
    public static func uniqueConsumerName() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        let random = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(random)"
    }
}
