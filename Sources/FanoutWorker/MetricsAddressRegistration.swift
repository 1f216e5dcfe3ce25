public import FanoutRedis
public import Logging
public import ServiceLifecycle
import FanoutCore
import Synchronization

/// Records where this worker's `/metrics` listens — field `<consumer>` of hash
/// `<prefix>:worker-metrics`, value `host:port` — so `fanout stats` can show every worker's
/// metrics address, however many share a host.
///
/// The field is written once the HTTP server has bound (``announce(_:)``) and again after every
/// reconnection, so a Redis that lost its data learns it again; it is removed on graceful shutdown.
/// A worker killed with SIGKILL leaves its field behind, as it leaves its consumer in the group.
/// It has a Redis connection of its own (client name `fanout-worker-meta-<consumer>`), so nothing
/// here waits in the worker's command pipeline. List it before ``WorkerHTTPServer`` in a
/// `ServiceGroup`: services stop in reverse order, so the field goes after the server stopped.
public final class MetricsAddressRegistration: Service, Sendable {
    private struct State {
        var address: String?
        /// Set by a (re)connection or a new address; cleared once Redis has the current address.
        var needsWrite = true
        var stopping = false
    }

    /// The state and its signal, in a class of their own: the Redis client's event callback,
    /// made before `self` exists, shares them.
    private final class Shared: Sendable {
        let state = Mutex(State())
        let changed = AsyncSignal()

        func update(_ body: (inout State) -> Void) {
            state.withLock { body(&$0) }
            changed.signal()
        }
    }

    private let consumerName: String
    private let keySpace: KeySpace
    private let redis: RedisClient
    private let backoff: Backoff
    private let logger: Logger
    private let shared = Shared()

    public init(configuration: WorkerConfiguration, logger: Logger) {
        consumerName = configuration.consumerName
        keySpace = configuration.common.keySpace
        backoff = configuration.common.redis.reconnectBackoff
        self.logger = logger
        var redis = configuration.common.redis
        redis.clientName = "fanout-worker-meta-\(configuration.consumerName)"
        let shared = self.shared
        self.redis = RedisClient(configuration: redis, logger: logger) { event in
            guard case .connected = event else { return }
            shared.update { $0.needsWrite = true }
        }
    }

    /// The address the HTTP server bound, as others can reach it (`host:port`).
    public func announce(_ address: String) {
        shared.update {
            $0.address = address
            $0.needsWrite = true
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { try? await self.redis.run() }
            await withGracefulShutdownHandler {
                await self.keepWritten()
            } onGracefulShutdown: {
                self.shared.update { $0.stopping = true }
            }
            if let address = shared.state.withLock({ $0.address }) {
                // Bounded by the client's command timeout; a Redis that is down keeps the stale field.
                _ = try? await redis.send(.hdel(keySpace.workerMetrics, [consumerName]))
                logger.debug("metrics address removed", metadata: ["fanout.address": "\(address)"])
            }
            redis.stop()
        }
    }

    private func keepWritten() async {
        var failures = 0
        while true {
            await shared.changed.wait { self.shared.state.withLock { $0.stopping || ($0.needsWrite && $0.address != nil) } }
            let (address, stopping) = shared.state.withLock { state -> (String?, Bool) in
                defer { state.needsWrite = false }
                return (state.address, state.stopping)
            }
            if stopping || Task.isCancelled { return }
            guard let address else { continue }
            do {
                _ = try await redis.send(.hset(keySpace.workerMetrics, [(consumerName, address)]))
                failures = 0
            } catch {
                // Not connected yet, or the connection just failed: try again after a backoff (the
                // next connection also asks for a write).
                shared.state.withLock { $0.needsWrite = true }
                failures += 1
                try? await Task.sleep(for: backoff.delay(attempt: failures))
            }
        }
    }
}
