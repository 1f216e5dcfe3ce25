import FanoutCore
import FanoutRedis
import Logging
import Metrics
import NIOCore

/// Runs the handler for every entry of a batch and collects what must be written into one
/// `BatchPlan`: the effects of each handled entry, or its dead-letter copy.
///
/// In place, while handlers are quick: one entry after another in the caller's task, no task per
/// entry or connection. Otherwise (or once an in-place batch outlasts `inPlaceBudget`) the entries
/// are spread over up to `lanes` lanes by connection — all of a connection's entries in one lane,
/// in stream order — and every lane but the first runs in a child task, so handlers that wait (on
/// I/O) or compute long overlap. The worker starts in place while the mean handler time of recent
/// batches is under 100 µs (`HandlerTimeAverage`).
///
/// While lanes run, the batch's entries are claimed again every third of `claimIdle` (XCLAIM
/// JUSTID to this consumer): a batch of slow handlers may take longer than the claim time, and
/// its entries, idle in Redis's eyes though in hand here, must not be taken by another worker's
/// XAUTOCLAIM and handled twice.
struct BatchRunner: Sendable {
    /// What handling one entry came to.
    enum Outcome: Sendable {
        /// The handler returned: its effects, to publish before the entry is acknowledged.
        case effects([Effect])
        /// The entry goes to the dead-letter stream with this reason.
        case deadLetter(String)
        /// The handler threw before its last delivery: the entry stays pending and is retried.
        case retry
    }

    let handler: any MessageHandler
    let keySpace: KeySpace
    let redis: RedisClient
    let logger: Logger
    let counters: WorkerCounters
    let consumerName: String
    /// The inbound stream the batch came from, and how long its entries may stay idle before
    /// others reclaim them: the lanes keep them claimed.
    let stream: String
    let claimIdle: Duration
    let maxDeliveries: Int
    /// Room and user history (`FANOUT_HISTORY_SIZE` …), for the handler's context and the plan.
    var history: HistorySettings = .off

    /// How long a batch may run in place before the rest of it moves to lanes. The worker starts
    /// every batch in place while handlers have been quick; a handler that turns slow (a first batch
    /// of a waiting handler, a dependency slowing down) must not hold 128 entries in one lane for
    /// longer than the claim time, or other workers reclaim them while they are still in hand.
    static let inPlaceBudget = Duration.milliseconds(20)

    /// Handles `jobs` — in place while `inPlace` and within `inPlaceBudget`, then in up to `lanes`
    /// lanes; returns the batch's plan and the mean handler time per entry. `inHand`: entries of
    /// earlier batches not yet acknowledged, kept claimed with this batch's.
    func handle(_ jobs: [StreamEntryJob], inPlace: Bool, lanes: Int, inHand: [String] = []) async -> (plan: BatchPlan, meanHandlerTime: Duration) {
        var outcomes = [Outcome](repeating: .retry, count: jobs.count)
        var handlerTime = Duration.zero
        var next = jobs.startIndex
        if inPlace || lanes <= 1 {
            // In place, one entry after another. The entries left when the budget runs out start
            // after every entry already handled, so each connection's entries stay in order.
            while next < jobs.endIndex && handlerTime < Self.inPlaceBudget {
                let (outcome, elapsed) = await handle(jobs[next])
                outcomes[next] = outcome
                handlerTime += elapsed
                next += 1
            }
        }
        if next < jobs.endIndex {
            let rest = Array(jobs[next...])
            let results = await whileClaimed(inHand + jobs.map(\.entry.id)) {
                await withTaskGroup(of: [(Int, Outcome, Duration)].self) { group in
                    // Lanes leave the worker's event loop for the global executor: a slow handler
                    // must not hold the loop that carries the worker's Redis replies.
                    let partition = Self.partition(rest, lanes: lanes)
                    for lane in partition.dropFirst() {
                        group.addTask(executorPreference: globalConcurrentExecutor) { await self.run(lane, of: rest) }
                    }
                    var all = await run(partition[0], of: rest)
                    for await lane in group { all += lane }
                    return all
                }
            }
            for (index, outcome, elapsed) in results {
                outcomes[next + index] = outcome
                handlerTime += elapsed
            }
        }
        var plan = BatchPlan(keySpace: keySpace, history: history)
        for (job, outcome) in zip(jobs, outcomes) {
            switch outcome {
            case .effects(let effects): plan.add(effects, for: job.entry.id)
            case .deadLetter(let reason): plan.addDeadLetter(deadLetterCommand(job, reason: reason), for: job.entry.id, reason: reason)
            case .retry: break
            }
        }
        return (plan, handlerTime / max(1, jobs.count))
    }

    /// The job indices of each non-empty lane; a connection's entries all land in one lane, in order.
    ///
    /// Connections take lanes in the order they first appear, round-robin: with no more
    /// connections than lanes each has one of its own (a hash could put two in one lane and
    /// double how long the batch holds their entries).
    static func partition(_ jobs: [StreamEntryJob], lanes: Int) -> [[Int]] {
        var buckets = [[Int]](repeating: [], count: max(1, lanes))
        var laneOf: [String: Int] = [:]
        for index in jobs.indices {
            let key = jobs[index].connectionKey
            let lane = laneOf[key] ?? laneOf.count % buckets.count
            laneOf[key] = lane
            buckets[lane].append(index)
        }
        return buckets.filter { !$0.isEmpty }
    }

    /// Runs `body` while a child task claims `ids` for this consumer again every third of
    /// `claimIdle`, so they never look idle to other workers while in hand. A worker that is stopped
    /// or dies stops claiming, and its entries are reclaimed as before.
    private func whileClaimed<Result: Sendable>(_ ids: [String], _ body: () async -> Result) async -> Result {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.keepClaimed(ids) }
            let result = await body()
            group.cancelAll()
            return result
        }
    }

    private func keepClaimed(_ ids: [String]) async {
        let period = claimIdle / 3
        while true {
            do { try await Task.sleep(for: period) } catch { return }
            do {
                _ = try await redis.send(.xclaimJustID(stream, group: KeySpace.workerGroup, consumer: consumerName, minIdle: .zero, ids: ids))
            } catch {
                logger.debug("could not renew the claim on a batch in hand", metadata: ["fanout.error": "\(error)"])
            }
        }
    }

    private func run(_ lane: [Int], of jobs: [StreamEntryJob]) async -> [(Int, Outcome, Duration)] {
        var results: [(Int, Outcome, Duration)] = []
        results.reserveCapacity(lane.count)
        for index in lane {
            let (outcome, elapsed) = await handle(jobs[index])
            results.append((index, outcome, elapsed))
        }
        return results
    }

    /// Decodes one entry and runs the handler on it.
    private func handle(_ job: StreamEntryJob) async -> (Outcome, Duration) {
        let id = job.entry.id
        let inbound: InboundEntry
        do {
            inbound = try InboundEntry(job.entry)
        } catch {
            return (.deadLetter("malformed entry: \(error.reason)"), .zero)
        }
        if job.deliveries > maxDeliveries {
            return (.deadLetter("delivered \(job.deliveries) times without success"), .zero)
        }
        let message = InboundMessage(id: id, entry: inbound, deliveryCount: job.deliveries)
        let context = MessageContext(message: message, keySpace: keySpace, redis: redis, logger: logger, history: history)
        let start = ContinuousClock.now
        do {
            try await handler.handle(message, context: context)
        } catch {
            let elapsed = ContinuousClock.now - start
            counters.failedOne()
            if job.deliveries >= maxDeliveries {
                return (.deadLetter("handler failed: \(error)"), elapsed)
            }
            context.logger.warning("handler failed; the entry will be retried", metadata: [
                "fanout.deliveries": "\(job.deliveries)", "fanout.error": "\(error)",
            ])
            return (.retry, elapsed)
        }
        let elapsed = ContinuousClock.now - start
        counters.sampleHandlerDuration(elapsed)
        return (.effects(context.effects), elapsed)
    }

    /// The copy of an entry for the dead-letter stream.
    ///
    /// The worker's own fields come first and the original fields follow, byte for byte (names
    /// too). First, because whoever wrote the entry chose its field names: an entry carrying its
    /// own `reason` must not be read — by `entry["reason"]` or by an operator scanning `XRANGE` —
    /// as the worker's verdict.
    private func deadLetterCommand(_ job: StreamEntryJob, reason: String) -> RedisCommand {
        var fields: [(ByteBuffer, ByteBuffer)] = [
            ("reason", reason),
            ("deliveries", String(job.deliveries)),
            ("entry-id", job.entry.id),
            ("consumer", consumerName),
            ("failed-at", String(WallClock.microseconds())),
        ].map { (ByteBuffer(string: $0.0), ByteBuffer(string: $0.1)) }
        fields += job.entry.fields.map { ($0.rawName, $0.value) }
        return .xadd(keySpace.deadLetters, maxLength: WorkerConfiguration.deadLetterGuard, binaryFields: fields)
    }
}
