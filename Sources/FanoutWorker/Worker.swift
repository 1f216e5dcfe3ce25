public import FanoutCore
public import FanoutRedis
public import Logging
public import ServiceLifecycle
import NIOCore
import NIOPosix
import Synchronization

/// The worker runtime: reads `<prefix>:inbound` as a member of group `workers` one batch at a time,
/// runs the handler for each entry, publishes the batch's effects as one pipelined write, then
/// acknowledges the batch with one XACK.
///
/// With `FANOUT_STREAM_PARTITIONS` > 1 the batch loop runs once per inbound stream, each with a
/// Redis client and event loop of its own (`WorkerPartition`, decision 0041); everything below
/// holds per partition.
///
/// Guarantees (also in Docs/guarantees.md):
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
    /// One per inbound stream, each with its own Redis client and batch loop.
    private let partitions: [WorkerPartition]
    private let draining = Atomic<Bool>(false)
    private let drainRequested = AsyncSignal()

    public init(configuration: WorkerConfiguration, handler: any MessageHandler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        var logger = logger
        logger[metadataKey: "fanout.consumer"] = "\(configuration.consumerName)"
        self.logger = logger
        // Each partition's connection and batch loop share one event loop (`EventLoopTaskExecutor`).
        let streams = configuration.common.keySpace.inboundStreams
        self.partitions = streams.enumerated().map { index, stream in
            var redis = configuration.common.redis
            redis.clientName = "fanout-worker-\(configuration.consumerName)" + (streams.count > 1 ? "-p\(index)" : "")
            var partitionLogger = logger
            if streams.count > 1 { partitionLogger[metadataKey: "fanout.partition"] = "\(index)" }
            return WorkerPartition(
                index: index, stream: stream, redis: redis, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: partitionLogger)
        }
    }

    /// `true` while connected to Redis with the consumer group in place on every partition and not draining.
    public var isReady: Bool {
        partitions.allSatisfy { $0.ready.load(ordering: .relaxed) && $0.redis.isConnected } && !draining.load(ordering: .relaxed)
    }

    /// `true` once graceful shutdown has begun.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    private var keySpace: KeySpace { configuration.common.keySpace }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { connections in
            for partition in partitions { connections.addTask { try await partition.redis.run() } }
            defer {
                for partition in partitions { partition.redis.stop() }
                connections.cancelAll()
            }
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { work in
                    work.addTask {
                        // Every partition drains on its own; the worker is done when all are.
                        await withTaskGroup(of: Void.self) { loops in
                            for partition in self.partitions {
                                loops.addTask(executorPreference: partition.executor) { await self.consume(partition) }
                            }
                        }
                    }
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
            for partition in partitions { await leaveGroupIfIdle(partition) }
        }
    }

    private func consume(_ partition: WorkerPartition) async {
        let commands = partition.redis
        let stream = partition.stream
        let executor = partition.executor
        let runner = BatchRunner(
            handler: handler, keySpace: keySpace, redis: commands, logger: logger, counters: counters,
            consumerName: configuration.consumerName, stream: stream, claimIdle: configuration.claimIdle,
            maxDeliveries: configuration.maxDeliveries, history: configuration.history)
        var handlerTime = HandlerTimeAverage()
        // What the next write carries besides its read: the last batch's effects (their replies
        // are checked when they come back), and the acknowledgements and cleanup already checked.
        var unsent = BatchPlan(keySpace: keySpace, history: configuration.history)
        var verified = VerifiedBatch()
        await ensureGroup(partition)
        var lastReclaim = ContinuousClock.now
        var trimmer = StreamTrimmer(configuration: configuration, partition: partition.index, redis: commands, counters: counters, logger: logger)
        var failures = 0
        var lastBatch = 0
        var linger = LingerGovernor(
            delay: TimeAmount(configuration.batchLinger), adaptive: configuration.lingerAdapts,
            metrics: LingerMetrics(linger: "read"))
        while !Task.isCancelled {
            let reading = !draining.load(ordering: .relaxed)
            let read = RedisCommand.xreadgroup(
                stream, group: KeySpace.workerGroup, consumer: configuration.consumerName,
                count: configuration.batchSize, block: configuration.blockTime)
            // One write per batch: [effects of the batch just handled…, XACK of the batch before,
            // cleanup…, XREADGROUP for the next]. Redis runs them in order, so the effects are out
            // before the read blocks; an entry is acknowledged only once its effects' replies were
            // checked, one write later.
            let effects = unsent.commands + verified.commands(stream: stream)
            guard reading || !effects.isEmpty else { break }
            let replies: [RedisValue]
            // The read's entries, decoded as the reply is parsed (`nil` while draining: no read).
            var entriesRead: Result<[StreamEntry], RedisError>?
            do {
                if reading, linger.lingers, lingers(after: lastBatch) {
                    // The last batch was small: the effects go out now, the read after a short
                    // wait, so that entries arriving meanwhile share the next batch.
                    let sent = effects.isEmpty ? nil : commands.pipelineFuture(effects)
                    try? await executor.eventLoop.scheduleTask(in: TimeAmount(configuration.batchLinger)) {}.futureResult.get()
                    entriesRead = try await commands.pipeline([], thenRead: read).read
                    replies = try await sent?.get() ?? []
                } else if reading {
                    let result = try await commands.pipeline(effects, thenRead: read)
                    replies = result.values
                    entriesRead = result.read
                } else {
                    replies = try await commands.pipeline(effects)
                }
                failures = 0
            } catch {
                // The effects may or may not have gone out: their entries stay pending and are
                // reclaimed and handled again (at-least-once). The acknowledgements are retried.
                partition.ready.store(false, ordering: .relaxed)
                failures += 1
                if failures == 1 { logger.warning("a write to Redis failed; retrying", metadata: ["fanout.error": "\(error)"]) }
                unsent = BatchPlan(keySpace: keySpace, history: configuration.history)
                try? await Task.sleep(for: configuration.common.redis.reconnectBackoff.delay(attempt: failures))
                continue
            }
            var outcome = unsent.evaluate(Array(replies.prefix(unsent.commands.count)))
            if !outcome.unheard.isEmpty { outcome = await confirmUnheard(outcome, commands) }
            verified.report(replies.dropFirst(unsent.commands.count).prefix(verified.commandCount), logger: logger)
            verified = VerifiedBatch(outcome)
            record(outcome)
            unsent = BatchPlan(keySpace: keySpace, history: configuration.history)
            guard reading else { continue }
            do {
                guard let entriesRead else { continue }
                let entries = try entriesRead.get()
                lastBatch = entries.count
                linger.record(entries.count, now: .now())
                partition.ready.store(true, ordering: .relaxed)
                if !entries.isEmpty {
                    unsent = await handle(entries.map { StreamEntryJob(entry: $0, deliveries: 1) }, runner, &handlerTime, inHand: verified.entryIDs)
                }
                if ContinuousClock.now - lastReclaim >= configuration.claimIdle / 2 {
                    lastReclaim = ContinuousClock.now
                    // Entries this worker holds in hand (handled, effects or acknowledgement not yet
                    // written) can be idle past the claim time after a slow batch: XAUTOCLAIM hands
                    // them back to us, and they must not be handled a second time.
                    let inHand = Set(unsent.entryIDs + verified.entryIDs)
                    let reclaimed = await reclaim(partition).filter { !inHand.contains($0.entry.id) }
                    if !reclaimed.isEmpty {
                        unsent.append(await handle(reclaimed, runner, &handlerTime, inHand: Array(inHand)))
                    }
                }
                await trimmer.passIfDue()  // at most once per FANOUT_TRIM_INTERVAL_MS, one worker at a time
            } catch where error.serverErrorPrefix == "NOGROUP" {
                logger.warning("consumer group missing (stream deleted?); creating it again", metadata: ["fanout.stream": "\(stream)"])
                await ensureGroup(partition)
            } catch {
                partition.ready.store(false, ordering: .relaxed)
                logger.warning("reading the inbound stream failed; retrying", metadata: ["fanout.error": "\(error)"])
                try? await Task.sleep(for: configuration.common.redis.reconnectBackoff.delay(attempt: 1))
            }
        }
        partition.ready.store(false, ordering: .relaxed)
    }

    /// Whether the last batch leaves room to linger, when the `LingerGovernor` finds that waiting
    /// pays (it never does with no `batchLinger` set): after a small batch (the worker is ahead of
    /// the stream), not after an empty one (the read blocks anyway) or a full one (a backlog).
    private func lingers(after batch: Int) -> Bool {
        batch > 0 && batch < max(2, configuration.batchSize / 4)
    }

    /// Runs the handler on a batch (in place, or in lanes when handlers are slow). `inHand`: the
    /// entries handled earlier whose acknowledgement goes out with the next write — the batch keeps
    /// them claimed too, or a slow batch would leave them to other workers' XAUTOCLAIM.
    private func handle(
        _ jobs: [StreamEntryJob], _ runner: BatchRunner, _ handlerTime: inout HandlerTimeAverage, inHand: [String]
    ) async -> BatchPlan {
        let (plan, meanHandlerTime) = await runner.handle(jobs, inPlace: handlerTime.isQuick, lanes: configuration.concurrency, inHand: inHand)
        handlerTime.record(meanHandlerTime)
        return plan
    }

    /// A result for a connection reached no subscriber: undeliverable if the connection is gone,
    /// but if its edge still lists it (`<prefix>:edge:<edge>:conns`), that edge's subscriber is
    /// reconnecting (a Redis failover or restart), and the entry stays pending — not acknowledged —
    /// to be handled again after `FANOUT_CLAIM_IDLE_MS`, by when the subscriptions are restored
    /// (decision 0012). `FANOUT_MAX_DELIVERIES` bounds the retries either way.
    private func confirmUnheard(_ outcome: BatchPlan.Outcome, _ commands: RedisClient) async -> BatchPlan.Outcome {
        var outcome = outcome
        let questions: [RedisCommand] = outcome.unheard.compactMap { _, connection in
            connection.edge.map { .sismember(keySpace.edgeConnections($0), connection.rawValue) }
        }
        // Unanswered (Redis unreachable mid-failover) counts as "still open": retried, not lost.
        let replies = (try? await commands.pipeline(questions)) ?? Array(repeating: .integer(1), count: questions.count)
        var retry = Set<String>()
        for (index, unheard) in outcome.unheard.enumerated() {
            if index >= replies.count || replies[index].int == 1 {
                retry.insert(unheard.id)
                logger.debug("result unheard by an open connection; the entry will be retried", metadata: ["fanout.msg": "\(unheard.id)"])
            } else {
                outcome.undeliverable += 1
            }
        }
        outcome.acknowledged.removeAll { retry.contains($0) }
        outcome.unheard = []
        return outcome
    }

    /// Logs and counts what a batch's replies said.
    private func record(_ outcome: BatchPlan.Outcome) {
        for (id, message) in outcome.failed {
            logger.warning("publishing results failed; the entry will be retried", metadata: ["fanout.msg": "\(id)", "fanout.error": "\(message)"])
        }
        for (id, reason) in outcome.deadLettered {
            logger.warning("entry dead-lettered", metadata: ["fanout.msg": "\(id)", "fanout.reason": "\(reason)"])
        }
        counters.undeliverable(outcome.undeliverable)
        counters.handled(outcome.acknowledged.count)
        counters.deadLettered(outcome.deadLettered.count)
    }

    /// Creates the consumer group (and stream) if missing; retries until Redis answers or we stop.
    private func ensureGroup(_ partition: WorkerPartition) async {
        let commands = partition.redis
        var attempt = 0
        while !draining.load(ordering: .relaxed) && !Task.isCancelled {
            do {
                try await commands.waitUntilConnected(timeout: configuration.common.redis.connectTimeout * 2)
                try await commands.xgroupCreate(partition.stream, group: KeySpace.workerGroup, startID: "0")
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
    private func reclaim(_ partition: WorkerPartition) async -> [StreamEntryJob] {
        let commands = partition.redis
        do {
            let result = try await commands.xautoclaim(
                partition.stream, group: KeySpace.workerGroup, consumer: configuration.consumerName,
                minIdle: configuration.claimIdle, count: configuration.batchSize)
            StreamTrimmer.reportRemovedWhilePending(result.deletedIDs, counters: counters, logger: logger)
            guard let first = result.entries.first?.id, let last = result.entries.last?.id else { return [] }
            let pending = try await commands.send(.xpending(
                partition.stream, group: KeySpace.workerGroup, start: first, end: last, count: result.entries.count,
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
    private func leaveGroupIfIdle(_ partition: WorkerPartition) async {
        let commands = partition.redis
        do {
            let summary = try await commands.xpendingSummary(partition.stream, group: KeySpace.workerGroup)
            let mine = summary.consumers[configuration.consumerName] ?? 0
            if mine == 0 {
                _ = try await commands.send(.xgroupDelConsumer(partition.stream, group: KeySpace.workerGroup, consumer: configuration.consumerName))
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

/// The acknowledgements and cleanup of a batch whose effects' replies were checked: they go out
/// with the next write.
struct VerifiedBatch {
    private var acknowledge: [String] = []
    private var cleanup: [RedisCommand] = []

    init() {}

    init(_ outcome: BatchPlan.Outcome) {
        acknowledge = outcome.acknowledged + outcome.deadLettered.map(\.id)
        cleanup = outcome.cleanup
    }

    /// The entries waiting for this acknowledgement.
    var entryIDs: [String] { acknowledge }

    /// `XACK` on `stream` for every verified entry, then the presence cleanup.
    func commands(stream: String) -> [RedisCommand] {
        (acknowledge.isEmpty ? [] : [.xack(stream, group: KeySpace.workerGroup, ids: acknowledge)]) + cleanup
    }

    var commandCount: Int { (acknowledge.isEmpty ? 0 : 1) + cleanup.count }

    /// Logs what went wrong with these commands' replies (in `commands` order).
    func report(_ replies: some Collection<RedisValue>, logger: Logger) {
        for (index, reply) in replies.enumerated() {
            guard case .error(let message) = reply else { continue }
            if index == 0, !acknowledge.isEmpty {
                logger.warning("XACK failed; entries stay pending and will be reclaimed", metadata: [
                    "fanout.count": "\(acknowledge.count)", "fanout.error": "\(message)",
                ])
            } else {
                logger.debug("presence cleanup failed", metadata: ["fanout.error": "\(message)"])
            }
        }
    }
}
