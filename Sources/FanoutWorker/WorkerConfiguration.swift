import Foundation
public import FanoutCore

/// Everything a worker process can be told. Each field names its key; defaults are what a fresh
/// `fanout worker` uses. Docs/configuration.md ("Every key") lists the same keys.
public struct WorkerConfiguration: Sendable {
    /// Redis URL and key prefix (`FANOUT_REDIS_URL`, `FANOUT_KEY_PREFIX`).
    public var common: CommonConfiguration
    /// `FANOUT_CONSUMER_NAME` — this process's consumer name in group `workers`; default unique per
    /// process: `<host>-<pid>-<random>`. Set it only to a name no other live worker uses.
    public var consumerName: String
    /// `FANOUT_HANDLER` — the built-in handler to run: `echo`, `chat`, `burn` (200 µs of CPU, then echo; for
    /// benchmarks) or `delay` (waits `delay` without using CPU, then echoes; an I/O-bound stand-in).
    public var handlerName: String
    /// `FANOUT_DELAY_MS` — how long the `delay` handler waits per message (default 50; 0 allowed).
    public var delay: Duration
    /// `FANOUT_CONCURRENCY` — lanes a batch is spread over when handlers are slow (each lane a
    /// child task with whole connections, default 64); quick handlers run a batch in place.
    public var concurrency: Int
    /// `FANOUT_BATCH_SIZE` — the most entries one XREADGROUP asks for (default 128).
    public var batchSize: Int
    /// `FANOUT_BLOCK_MS` — how long one XREADGROUP waits for new entries (default 1000). Also bounds how
    /// quickly a graceful shutdown stops reading.
    public var blockTime: Duration
    /// `FANOUT_BATCH_LINGER_MS` — after a read that returned fewer than a quarter of
    /// `FANOUT_BATCH_SIZE` entries, how long the worker waits before the next, so that entries
    /// arriving meanwhile share one batch: one read, one pipeline and one XACK for all of them
    /// instead of one each, for up to this much added latency (default 0: read again at once; see
    /// decision 0006 for the measured trade-off).
    public var batchLinger: Duration
    /// `FANOUT_LINGER_ADAPTIVE` — true (the default): the linger applies only while it pays (the
    /// rate of entries does not fall for it), measured both ways now and then; false: always
    /// (decision 0046).
    public var lingerAdapts: Bool
    /// `FANOUT_CLAIM_IDLE_MS` — an entry pending this long on any consumer is reclaimed and processed again (default 15000).
    public var claimIdle: Duration
    /// `FANOUT_MAX_DELIVERIES` — after this many failed deliveries an entry goes to the dead-letter stream (default 5).
    public var maxDeliveries: Int
    /// `FANOUT_SHUTDOWN_TIMEOUT_MS` — how long a graceful shutdown may take before in-flight work is abandoned (default 10000).
    public var shutdownTimeout: Duration
    /// `FANOUT_METRICS_PORT` — where `/metrics`, `/healthz` and `/readyz` listen: one port (`9191`), a
    /// range (`9090-9099`: the first free port in it), or 0 (no HTTP server). Default `9090-9099`, so
    /// several workers with default settings fit on one host; each logs the address it bound and
    /// records it in Redis (`<prefix>:worker-metrics`), where `fanout stats` shows it.
    public var metricsPorts: ClosedRange<Int>
    /// `FANOUT_HISTORY_SIZE`, `FANOUT_HISTORY_TTL_MS`, `FANOUT_HISTORY_META_TTL_MS` — room and user
    /// history: 100 messages, 5 minutes after the last one, offsets kept 30 days; size 0 turns it off.
    public var history: HistorySettings

    /// `FANOUT_STREAM_RETENTION` — processed entries the inbound stream keeps for inspection
    /// beyond what is not yet processed (default 10,000; 0: keep only the unprocessed).
    public var streamRetention: Int
    /// `FANOUT_STREAM_RETENTION_MS` — also keep every inbound entry younger than this (unset by
    /// default: count only). Both retentions are minimums; nothing unprocessed is ever trimmed.
    public var streamRetentionAge: Duration?
    /// `FANOUT_DEAD_LETTER_RETENTION` — dead letters kept, newest first (default 100,000).
    public var deadLetterRetention: Int
    /// `FANOUT_TRIM_INTERVAL_MS` — how often the workers (one of them per interval) trim the
    /// streams (default 1000; 0: never, and the inbound stream grows to the edges' `MAXLEN` cap).
    public var trimInterval: Duration

    /// The `MAXLEN ~` on each dead-letter XADD: an emergency guard far above any retention, as the
    /// inbound stream's cap is; the trimmer keeps the stream at `deadLetterRetention`.
    public static let deadLetterGuard = 1_000_000

    /// The first port `metricsPorts` tries; setting it asks for exactly that port (0: no HTTP server).
    public var metricsPort: Int {
        get { metricsPorts.lowerBound }
        set { metricsPorts = newValue...newValue }
    }

    /// The default `metricsPorts`: Prometheus's customary exporter port and the nine after it.
    public static let defaultMetricsPorts = 9090...9099

    public init(common: CommonConfiguration = CommonConfiguration(), handlerName: String = "echo") {
        self.common = common
        self.consumerName = Self.uniqueConsumerName()
        self.handlerName = handlerName
        self.delay = .milliseconds(50)
        self.concurrency = 64
        self.batchSize = 128
        self.blockTime = .seconds(1)
        self.batchLinger = .zero
        self.lingerAdapts = true
        self.claimIdle = .seconds(15)
        self.maxDeliveries = 5
        self.shutdownTimeout = .seconds(10)
        self.metricsPorts = Self.defaultMetricsPorts
        self.history = HistorySettings()
        self.streamRetention = 10_000
        self.streamRetentionAge = nil
        self.deadLetterRetention = 100_000
        self.trimInterval = .seconds(1)
    }

    public init(reader: ConfigurationReader) throws(ConfigurationError) {
        self.init(common: try CommonConfiguration(reader: reader), handlerName: reader.string("FANOUT_HANDLER", default: "echo"))
        concurrency = try reader.int("FANOUT_CONCURRENCY", default: concurrency, range: 1...100_000)
        batchSize = try reader.int("FANOUT_BATCH_SIZE", default: batchSize, range: 1...10_000)
        blockTime = try reader.milliseconds("FANOUT_BLOCK_MS", default: blockTime)
        batchLinger = try reader.milliseconds("FANOUT_BATCH_LINGER_MS", default: batchLinger, minimum: 0)
        lingerAdapts = try reader.bool("FANOUT_LINGER_ADAPTIVE", default: lingerAdapts)
        claimIdle = try reader.milliseconds("FANOUT_CLAIM_IDLE_MS", default: claimIdle)
        maxDeliveries = try reader.int("FANOUT_MAX_DELIVERIES", default: maxDeliveries, range: 1...1000)
        shutdownTimeout = try reader.milliseconds("FANOUT_SHUTDOWN_TIMEOUT_MS", default: shutdownTimeout)
        delay = try reader.milliseconds("FANOUT_DELAY_MS", default: delay, minimum: 0)
        history = try HistorySettings(reader: reader)
        if let raw = reader.string("FANOUT_METRICS_PORT") { metricsPorts = try Self.portRange(raw, key: "FANOUT_METRICS_PORT") }
        if let name = reader.string("FANOUT_CONSUMER_NAME") { consumerName = name }
        streamRetention = try reader.int("FANOUT_STREAM_RETENTION", default: streamRetention, range: 0...100_000_000)
        if reader.string("FANOUT_STREAM_RETENTION_MS") != nil {
            streamRetentionAge = try reader.milliseconds("FANOUT_STREAM_RETENTION_MS", default: .zero)
        }
        deadLetterRetention = try reader.int(
            "FANOUT_DEAD_LETTER_RETENTION", default: deadLetterRetention, range: 0...(Self.deadLetterGuard - 1))
        trimInterval = try reader.milliseconds("FANOUT_TRIM_INTERVAL_MS", default: trimInterval, minimum: 0)
    }

    /// `N` or `N-M` (N <= M, both in 1...65535), or `0`.
    static func portRange(_ raw: String, key: String) throws(ConfigurationError) -> ClosedRange<Int> {
        let parts = raw.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        switch parts.count {
        case 1:
            if let port = parts[0], (0...65535).contains(port) { return port...port }
        case 2:
            if let first = parts[0], let last = parts[1], 1 <= first, first <= last, last <= 65535 { return first...last }
        default:
            break
        }
        throw ConfigurationError("\(key): expected a port in 0...65535 or a range like 9090-9099, got '\(raw)'")
    }

    /// `<host>-<pid>-<4 random hex>`: unique per process even when containers share a hostname and PID 1.
    public static func uniqueConsumerName() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        let random = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(random)"
    }
}
