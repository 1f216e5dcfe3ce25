public import FanoutCore
public import FanoutRedis
public import Logging
public import ServiceLifecycle
import NIOCore
import Synchronization

/// The worker runtime: reads `<prefix>:inbound` as a member of group `workers`, runs the handler for
/// each entry with bounded concurrency, performs its effects, then acknowledges it.
///
/// Guarantees (also in the README):
/// - at-least-once: an entry is acknowledged only after its effects were published; entries left
///   pending by a crashed, stuck or failing worker are reclaimed with XAUTOCLAIM after `claimIdle`
///   by any live worker and handled again;
/// - an entry that cannot be decoded, or failed `maxDeliveries` times, is moved to the dead-letter
///   stream with the reason and delivery count, then acknowledged;
/// - entries of one connection are handled in stream order by this worker.
///
/// Graceful shutdown: stop reading (at most `blockTime` later), finish in-flight handlers, publish
/// and acknowledge, leave the group (XGROUP DELCONSUMER) if nothing is pending under this
/// consumer, return. Past `shutdownTimeout` the remaining work is abandoned to be reclaimed by others.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    public let counters = WorkerCounters()
    private let handler: any MessageHandler
    private let logger: Logger
    private let commands: RedisClient
    private let reader: RedisClient
    private let ready = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)

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
                await self.consume()
            } onGracefulShutdown: {
                self.logger.info("worker draining: finishing in-flight entries")
                self.draining.store(true, ordering: .relaxed)
            }
        }
    }

    private func consume() async {
        let acks = AckBatcher(redis: commands, stream: keySpace.inbound, logger: logger)
        let limiter = InFlightLimiter(limit: configuration.concurrency)
        let queues = SerialQueues<StreamEntryJob>()
        let executor = EffectExecutor(redis: commands, keySpace: keySpace, logger: logger, counters: counters)
        // A discarding group: a long-running worker must not keep every finished child's result.
        await withDiscardingTaskGroup { group in
            group.addTask { await acks.run() }
            let process: @Sendable (StreamEntryJob) async -> Void = { job in
                await self.process(job, executor: executor, acks: acks)
            }
            // One child task per connection with work queued, not per message: it drains that
            // connection's queue in order and ends when the queue is empty.
            let dispatch: @Sendable (StreamEntryJob, inout DiscardingTaskGroup) -> Void = { job, group in
                let key = job.connectionKey
                guard queues.enqueue(job, key: key) else { return }
                group.addTask {
                    var current: StreamEntryJob? = job
                    while let job = current {
                        await process(job)
                        limiter.release()
                        current = queues.next(for: key)
                    }
                }
            }
            await ensureGroup()
            var lastReclaim = ContinuousClock.now
            var failures = 0
            while !draining.load(ordering: .relaxed) && !Task.isCancelled {
                await limiter.waitForSlot()
                do {
                    let entries = try await reader.xreadgroup(
                        keySpace.inbound, group: KeySpace.workerGroup, consumer: configuration.consumerName,
                        count: min(configuration.batchSize, limiter.available), block: configuration.blockTime)
                    failures = 0
                    ready.store(true, ordering: .relaxed)
                    limiter.acquire(entries.count)
                    for entry in entries { dispatch(StreamEntryJob(entry: entry, deliveries: 1), &group) }
                    if ContinuousClock.now - lastReclaim >= configuration.claimIdle / 2 {
                        lastReclaim = ContinuousClock.now
                        for job in await reclaim(limit: limiter.available) {
                            limiter.acquire(1)
                            dispatch(job, &group)
                        }
                    }
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
            // Drain: everything read is handled, published and acknowledged before we leave.
            let drained = await withDeadline(configuration.shutdownTimeout) {
                await limiter.waitUntilIdle()
                await acks.waitUntilFlushed()
            }
            acks.finish()
            if !drained {
                logger.warning("shutdown deadline passed with entries in flight; they will be reclaimed by other workers",
                    metadata: ["fanout.count": "\(limiter.inFlight)"])
                group.cancelAll()
            }
        }
        await leaveGroupIfIdle()
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
    private func reclaim(limit: Int) async -> [StreamEntryJob] {
        guard limit > 0 else { return [] }
        do {
            let result = try await commands.xautoclaim(
                keySpace.inbound, group: KeySpace.workerGroup, consumer: configuration.consumerName,
                minIdle: configuration.claimIdle, count: min(limit, configuration.batchSize))
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

    private func process(_ job: StreamEntryJob, executor: EffectExecutor, acks: AckBatcher) async {
        let id = job.entry.id
        let inbound: InboundEntry
        do {
            inbound = try InboundEntry(job.entry)
        } catch {
            await deadLetter(job, reason: "malformed entry: \(error.reason)", acks: acks)
            return
        }
        if job.deliveries > configuration.maxDeliveries {
            await deadLetter(job, reason: "delivered \(job.deliveries) times without success", acks: acks)
            return
        }
        let message = InboundMessage(id: id, entry: inbound, deliveryCount: job.deliveries)
        let context = MessageContext(message: message, keySpace: keySpace, redis: commands, logger: logger)
        let start = ContinuousClock.now
        do {
            defer { counters.handlerDuration.recordElapsed(since: start) }
            try await handler.handle(message, context: context)
        } catch {
            counters.failedOne()
            if job.deliveries >= configuration.maxDeliveries {
                await deadLetter(job, reason: "handler failed: \(error)", acks: acks)
            } else {
                context.logger.warning("handler failed; the entry will be retried", metadata: [
                    "fanout.deliveries": "\(job.deliveries)", "fanout.error": "\(error)",
                ])
            }
            return
        }
        do {
            try await executor.perform(context.effects)
            counters.handledOne()
            acks.ack(id)
        } catch {
            context.logger.warning("publishing results failed; the entry will be retried", metadata: ["fanout.error": "\(error)"])
        }
    }

    /// Copies the entry to the dead-letter stream with the reason, then acknowledges it.
    ///
    /// The worker's own fields come first and the original fields follow, byte for byte (names
    /// too). First, because whoever wrote the entry chose its field names: an entry carrying its
    /// own `reason` must not be read — by `entry["reason"]` or by an operator scanning `XRANGE` —
    /// as the worker's verdict.
    private func deadLetter(_ job: StreamEntryJob, reason: String, acks: AckBatcher) async {
        var fields: [(ByteBuffer, ByteBuffer)] = [
            ("reason", reason),
            ("deliveries", String(job.deliveries)),
            ("entry-id", job.entry.id),
            ("consumer", configuration.consumerName),
            ("failed-at", String(WallClock.microseconds())),
        ].map { (ByteBuffer(string: $0.0), ByteBuffer(string: $0.1)) }
        fields += job.entry.fields.map { ($0.rawName, $0.value) }
        do {
            try await commands.xadd(keySpace.deadLetters, maxLength: 100_000, binaryFields: fields)
            counters.deadLetteredOne()
            logger.warning("entry dead-lettered", metadata: ["fanout.msg": "\(job.entry.id)", "fanout.reason": "\(reason)"])
            acks.ack(job.entry.id)
        } catch {
            logger.warning("dead-lettering failed; the entry stays pending", metadata: ["fanout.error": "\(error)"])
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

/// Runs `body`, giving up after `timeout`. Returns `true` when `body` finished in time.
func withDeadline(_ timeout: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask {
            await body()
            return true
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}
