import FanoutCore
import FanoutRedis
import Logging
import Synchronization

/// Collects the IDs of finished entries and acknowledges them with as few XACKs as possible.
///
/// An ID is handed over only after the entry's results were published. While one XACK is in
/// flight, the IDs finished meanwhile wait and go out together in the next one. A failed XACK
/// leaves its entries pending: they are reclaimed and handled again (at-least-once).
final class AckBatcher: Sendable {
    private struct State {
        var ids: [String] = []
        var flushing = false
    }
    private let state = Mutex(State())
    private let redis: RedisClient
    private let stream: String
    private let logger: Logger
    private let signal: AsyncStream<Void>.Continuation
    private let signals: AsyncStream<Void>
    private let flushed = AsyncSignal()

    init(redis: RedisClient, stream: String, logger: Logger) {
        self.redis = redis
        self.stream = stream
        self.logger = logger
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `id` for acknowledgement.
    func ack(_ id: String) {
        state.withLock { $0.ids.append(id) }
        signal.yield()
    }

    /// Runs until `finish()`; sends every queued ID before returning.
    func run() async {
        for await _ in signals {
            await flush()
        }
        await flush()
    }

    /// Ends `run()` once everything queued so far is acknowledged (or failed).
    func finish() { signal.finish() }

    /// Returns once no ID is waiting and no XACK is in flight (or the task is cancelled).
    func waitUntilFlushed() async {
        await flushed.wait { self.state.withLock { $0.ids.isEmpty && !$0.flushing } }
    }

    private func flush() async {
        while true {
            let ids = state.withLock { state -> [String] in
                let ids = state.ids
                state.ids = []
                state.flushing = !ids.isEmpty
                return ids
            }
            if ids.isEmpty { break }
            do {
                try await redis.xack(stream, group: KeySpace.workerGroup, ids: ids)
            } catch {
                logger.warning("XACK failed; entries stay pending and will be reclaimed", metadata: [
                    "fanout.count": "\(ids.count)", "fanout.error": "\(error)",
                ])
            }
        }
        state.withLock { $0.flushing = false }
        flushed.signal()
    }
}
