public import FanoutCore
public import FanoutRedis
public import Logging
public import ServiceLifecycle
import NIOCore
import Synchronization

/// The worker runtime: reads `<prefix>:inbound` as a member of group `workers` one batch at a time,
/// runs the handler for each entry, publishes the batch's effects as one pipelined write, then
/// acknowledges the batch with one XACK.
///
/// Guarantees (also in the README):
/// - at-least-once: an entry is acknowledged only after its effects were published; entries left
///   pending by a crashed, stuck or failing worker are reclaimed with XAUTOCLAIM after `claimIdle`
///   by any live worker and handled again;
/// - an entry that cannot be decoded, or failed `maxDeliveries` times, is moved to the dead-letter
///   stream with the reason and delivery count, then acknowledged;
/// - entries of one connection are handled in stream order by this worker: a batch is finished
///   before the next is read, and within a batch a connection's entries run in order.
///
/// A batch runs in place — no task per entry or per connection — while handlers are quick; when
/// they wait (I/O) or compute long, it is spread over up to `FANOUT_CONCURRENCY` lanes, each a
/// child task with whole connections (`BatchRunner`).
///
/// Graceful shutdown: stop reading (at most `blockTime` later), finish the batch in hand, publish
/// and acknowledge, leave the group (XGROUP DELCONSUMER) if nothing is pending under this
/// consumer, return. Past `shutdownTimeout` the batch is abandoned to be reclaimed by others.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    public let counters = WorkerCounters()
    private let handler: any MessageHandler
    private let logger: Logger
    private let commands: RedisClient
    private let reader: RedisClient
    private let ready = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    private let drainRequested = AsyncSignal()

    public init(configuration: WorkerConfiguration, handler: any MessageHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        var logger = logger
        logger[metadataKey: "fanout.consumer"] = "\(configuration.consumerName)"
        self.logger = logger
        var redis = configuration.common.redis
        redis.clientName = "fanout-worker-\(configuration.consumerName)"
        self.commands = RedisClient(configuration: redis, logger: logger)
        redis.clientName = "fanout-worker-reader-\(configuration.consumerName)"
        self.reader = RedisClient(configuration: redis, logger: logger)
    }

    /// `true` while connected to Redis with the consumer group in place and not draining.
    public var isReady: Bool { ready.load(ordering: .relaxed) && commands.isConnected && !draining.load(ordering: .relaxed) }

    /// `true` once graceful shutdown has begun.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    private var keySpace: KeySpace { configuration.common.keySpace }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { connections in
            connections.addTask { try await self.commands.run() }
            connections.addTask { try await self.reader.run() }
            defer {
                commands.stop()
                reader.stop()
                connections.cancelAll()
            }
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { work in
                    work.addTask { await self.consume() }
                    work.addTask {
                        // The shutdown deadline: past it, the batch in hand is abandoned (cancelled).
                        await self.drainRequested.wait { self.draining.load(ordering: .relaxed) }
                        guard !Task.isCancelled else { return }
                        try? await Task.sleep(for: self.configuration.shutdownTimeout)
                        if !Task.isCancelled {
                            self.logger.warning("shutdown deadline passed with a batch in hand; its entries will be reclaimed by other workers")
                        }
                    }
                    await work.next()
                    work.cancelAll()
                }
            } onGracefulShutdown: {
                self.logger.info("worker draining: finishing the batch in hand")
                self.draining.store(true, ordering: .relaxed)
                self.drainRequested.signal()
            }
            await leaveGroupIfIdle()
        }
    }

    private func consume() async {
        let runner = BatchRunner(
            handler: handler, keySpace: keySpace, redis: commands, logger: logger, counters: counters,
            consumerName: configuration.consumerName, maxDeliveries: configuration.maxDeliveries)
        var acknowledging: EventLoopFuture<RedisValue>?
        var handlerTime = HandlerTimeAverage()
        await ensureGroup()
        var lastReclaim = ContinuousClock.now
        var trimmer = StreamTrimmer(configuration: configuration, redis: commands, counters: counters, logger: logger)
        var failures = 0
        while !draining.load(ordering: .relaxed) && !Task.isCancelled {
            do {
                let entries = try await reader.xreadgroup(
                    keySpace.inbound, group: KeySpace.workerGroup, consumer: configuration.consumerName,
                    count: configuration.batchSize, block: configuration.blockTime)
                failures = 0
                ready.store(true, ordering: .relaxed)
                if !entries.isEmpty {
                    acknowledging = await process(entries.map { StreamEntryJob(entry: $0, deliveries: 1) }, runner, &handlerTime) ?? acknowledging
                }
                if ContinuousClock.now - lastReclaim >= configuration.claimIdle / 2 {
                    lastReclaim = ContinuousClock.now
                    let reclaimed = await reclaim()
                    if !reclaimed.isEmpty { acknowledging = await process(reclaimed, runner, &handlerTime) ?? acknowledging }
                }
                await trimmer.passIfDue()  // at most once per FANOUT_TRIM_INTERVAL_MS, one worker at a time
            } catch let error as RedisError where error.serverErrorPrefix == "NOGROUP" {
                logger.warning("consumer group missing (stream deleted?); creating it again")
                await ensureGroup()
            } catch {
                ready.store(false, ordering: .relaxed)
                failures += 1
                if failures == 1 { logger.warning("reading the inbound stream failed; retrying", metadata: ["fanout.error": "\(error)"]) }
                try? await Task.sleep(for: configuration.common.redis.reconnectBackoff.delay(attempt: failures))
            }
        }
        ready.store(false, ordering: .relaxed)
        // XACKs complete in order on one connection: once the last one answered, all did.
        _ = try? await acknowledging?.get()
    }

    /// Handles one batch, publishes its effects in one pipeline, and sends one XACK for every entry
    /// whose effects went out (not awaited: the next batch need not wait for it). Returns that
    /// XACK's future, or `nil` when nothing was acknowledged.
    private func process(
        _ jobs: [StreamEntryJob], _ runner: BatchRunner, _ handlerTime: inout HandlerTimeAverage
    ) async -> EventLoopFuture<RedisValue>? {
        let lanes = handlerTime.isQuick ? 1 : configuration.concurrency
        let (plan, meanHandlerTime) = await runner.handle(jobs, lanes: lanes)
        handlerTime.record(meanHandlerTime)
        guard !plan.isEmpty else { return nil }
        let outcome: BatchPlan.Outcome
        do {
            outcome = plan.evaluate(plan.commands.isEmpty ? [] : try await commands.pipeline(plan.commands))
        } catch {
            logger.warning("publishing a batch's results failed; its entries will be retried", metadata: [
                "fanout.count": "\(jobs.count)", "fanout.error": "\(error)",
            ])
            return nil
        }
        for (id, message) in outcome.failed {
            logger.warning("publishing results failed; the entry will be retried", metadata: ["fanout.msg": "\(id)", "fanout.error": "\(message)"])
        }
        for (id, reason) in outcome.deadLettered {
            logger.warning("entry dead-lettered", metadata: ["fanout.msg": "\(id)", "fanout.reason": "\(reason)"])
        }
        counters.undeliverable(outcome.undeliverable)
        counters.handled(outcome.acknowledged.count)
        counters.deadLettered(outcome.deadLettered.count)
        let logger = self.logger
        for command in outcome.cleanup {
            commands.sendFuture(command).whenFailure { error in
                logger.debug("presence cleanup failed", metadata: ["fanout.error": "\(error)"])
            }
        }
        let ids = outcome.acknowledged + outcome.deadLettered.map(\.id)
        guard !ids.isEmpty else { return nil }
        let acknowledging = commands.sendFuture(.xack(keySpace.inbound, group: KeySpace.workerGroup, ids: ids))
        acknowledging.whenFailure { error in
            logger.warning("XACK failed; entries stay pending and will be reclaimed", metadata: [
                "fanout.count": "\(ids.count)", "fanout.error": "\(error)",
            ])
        }
        return acknowledging
    }

    /// Creates the consumer group (and stream) if missing; retries until Redis answers or we stop.
    private func ensureGroup() async {
        var attempt = 0
        while !draining.load(ordering: .relaxed) && !Task.isCancelled {
            do {
                try await commands.waitUntilConnected(timeout: configuration.common.redis.connectTimeout * 2)
                try await reader.waitUntilConnected(timeout: configuration.common.redis.connectTimeout * 2)
                try await commands.xgroupCreate(keySpace.inbound, group: KeySpace.workerGroup, startID: "0")
                return
            } catch {
                if attempt == 0 { logger.warning("cannot create consumer group yet; retrying", metadata: ["fanout.error": "\(error)"]) }
                attempt += 1
                try? await Task.sleep(for: configuration.common.redis.reconnectBackoff.delay(attempt: attempt))
            }
        }
    }

    /// Claims entries idle longer than `claimIdle` on any consumer (a crashed or stuck worker, or a
    /// handler that threw) and returns them with their delivery counts.
    private func reclaim() async -> [StreamEntryJob] {
        do {
            let result = try await commands.xautoclaim(
                keySpace.inbound, group: KeySpace.workerGroup, consumer: configuration.consumerName,
                minIdle: configuration.claimIdle, count: configuration.batchSize)
            StreamTrimmer.reportRemovedWhilePending(result.deletedIDs, counters: counters, logger: logger)
            guard let first = result.entries.first?.id, let last = result.entries.last?.id else { return [] }
            let pending = try await commands.send(.xpending(
                keySpace.inbound, group: KeySpace.workerGroup, start: first, end: last, count: result.entries.count,
                consumer: configuration.consumerName))
            let deliveries = Dictionary(
                (try PendingEntry.decodeList(pending)).map { ($0.id, $0.deliveries) }, uniquingKeysWith: { first, _ in first })
            counters.reclaimed(result.entries.count)
            logger.info("reclaimed idle entries", metadata: ["fanout.count": "\(result.entries.count)"])
            return result.entries.map { StreamEntryJob(entry: $0, deliveries: deliveries[$0.id] ?? configuration.maxDeliveries) }
        } catch {
            logger.debug("reclaim failed; will retry", metadata: ["fanout.error": "\(error)"])
            return []
        }
    }

    /// Removes this consumer from the group, but only when nothing is pending under it: a consumer
    /// with pending entries must stay visible so they can be reclaimed.
    private func leaveGroupIfIdle() async {
        do {
            let summary = try await commands.xpendingSummary(keySpace.inbound, group: KeySpace.workerGroup)
            let mine = summary.consumers[configuration.consumerName] ?? 0
            if mine == 0 {
                _ = try await commands.send(.xgroupDelConsumer(keySpace.inbound, group: KeySpace.workerGroup, consumer: configuration.consumerName))
                logger.info("worker left the consumer group")
            } else {
                logger.warning("worker stopped with entries pending; others will reclaim them", metadata: ["fanout.count": "\(mine)"])
            }
        } catch {
            logger.warning("could not leave the consumer group", metadata: ["fanout.error": "\(error)"])
        }
    }
}

/// One entry to handle, with how many times it has been delivered.
struct StreamEntryJob: Sendable {
    let entry: StreamEntry
    let deliveries: Int

    /// Entries of one connection share a key and run in order; malformed ones get their own.
    var connectionKey: String {
        entry["conn"].map { String(buffer: $0) } ?? entry.id
    }
}

/// How long handlers take, on average over recent batches: quick handlers run in place, slower
/// ones (waiting on I/O, or computing) in lanes.
struct HandlerTimeAverage {
    /// Below this mean time per entry a batch runs in place: a task per lane would cost more than
    /// it overlaps.
    static let quick = Duration.microseconds(100)
    private var nanoseconds: Double = 0

    var isQuick: Bool { nanoseconds < Double(Self.quick.components.attoseconds / 1_000_000_000 + Self.quick.components.seconds * 1_000_000_000) }

    /// An exponentially weighted mean: recent batches count most.
    mutating func record(_ mean: Duration) {
        let sample = Double(mean.components.seconds) * 1e9 + Double(mean.components.attoseconds) / 1e9
        nanoseconds = nanoseconds * 0.7 + sample * 0.3
    }
}
