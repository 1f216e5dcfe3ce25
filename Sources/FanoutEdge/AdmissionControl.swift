import FanoutCore
import FanoutRedis
import Logging
import Metrics
import Synchronization

/// Overload admission: refuses new inbound messages while the workers are too far behind.
///
/// The edge samples the consumer group's lag (entries appended but not yet delivered to any
/// worker) every `lagSampleInterval`. Above the high-water mark it refuses; below the low-water
/// mark it accepts again — the gap between the two keeps it from flapping. Redis is protected by
/// this, not by `MAXLEN`: the stream cap is a last resort, and when it could drop unprocessed
/// entries that is logged and counted.
///
/// Each sample also records the stream gauges: length, lag, pending, backlog (lag + pending)
/// and Redis's `used_memory` (one `INFO memory` per sample).
final class AdmissionControl: Sendable {
    private let refusing = Atomic<Bool>(false)
    private let lastLag = Atomic<Int>(0)
    private let configuration: EdgeConfiguration
    private let logger: Logger
    private let counters: EdgeCounters

    init(configuration: EdgeConfiguration, counters: EdgeCounters, logger: Logger) {
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
    }

    /// `true` while inbound messages are refused.
    var isRefusing: Bool { refusing.load(ordering: .relaxed) }

    /// The lag seen at the last sample.
    var lag: Int { lastLag.load(ordering: .relaxed) }

    /// Samples until cancelled.
    func run(redis: RedisClient, keySpace: KeySpace) async {
        while !Task.isCancelled {
            if let sample = try? await sample(redis: redis, keySpace: keySpace) {
                counters.streamLength.record(sample.length)
                counters.streamLag.record(sample.lag)
                counters.streamPending.record(sample.pending)
                counters.streamBacklog.record(sample.lag + sample.pending)
                if let memory = try? await redis.memoryInfo() { counters.redisUsedMemory.record(memory.usedMemory) }
                update(lag: sample.lag, length: sample.longest)
            }
            try? await Task.sleep(for: configuration.lagSampleInterval)
        }
    }

    /// The group's lag, length and pending count, summed over the inbound partitions.
    /// (`longest`: the longest partition, which `MAXLEN` trims first.)
    private func sample(redis: RedisClient, keySpace: KeySpace) async throws -> (lag: Int, length: Int, pending: Int, longest: Int) {
        var total = (lag: 0, length: 0, pending: 0, longest: 0)
        for stream in keySpace.inboundStreams {
            let group = try await redis.xinfoGroups(stream).first { $0.name == KeySpace.workerGroup }
            let length = try await redis.xlen(stream)
            // Redis cannot compute lag after some XDELs; then everything in the stream counts as behind.
            total.lag += group?.lag ?? length
            total.length += length
            total.pending += group?.pending ?? 0
            total.longest = max(total.longest, length)
        }
        return total
    }

    func update(lag: Int, length: Int) {
        lastLag.store(lag, ordering: .relaxed)
        if !isRefusing, lag >= configuration.overloadHighWater {
            refusing.store(true, ordering: .relaxed)
            logger.warning("overloaded: refusing inbound messages until the workers catch up", metadata: [
                "fanout.lag": "\(lag)", "fanout.high_water": "\(configuration.overloadHighWater)",
            ])
        } else if isRefusing, lag <= configuration.overloadLowWater {
            refusing.store(false, ordering: .relaxed)
            logger.info("accepting inbound messages again", metadata: ["fanout.lag": "\(lag)"])
        }
        if length >= configuration.maxStreamLength, lag > 0 {
            counters.trimRisks.increment()
            logger.warning("the inbound stream is at its MAXLEN cap with entries not yet delivered: trimming may drop them",
                metadata: ["fanout.length": "\(length)", "fanout.lag": "\(lag)"])
        }
    }
}
