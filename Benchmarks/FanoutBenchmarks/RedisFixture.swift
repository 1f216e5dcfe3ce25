import FanoutRedis
import Logging
import Synchronization

/// A `RedisClient` connected for the duration of one benchmark: `start()` in its setup, `stop()`
/// in its teardown. The redis-server itself is started by `scripts/bench-micro.sh`, which passes
/// its URL in `FANOUT_BENCH_REDIS_URL` — so this package needs only FanoutRedis and FanoutCore,
/// not FanoutTesting (which would pull the edge, the worker and Hummingbird into the build).
final class RedisFixture: Sendable {
    private struct Running {
        let client: RedisClient
        let task: Task<Void, any Error>
    }

    let configuration: RedisConfiguration
    private let running = Mutex<Running?>(nil)

    init(url: String) throws {
        configuration = try RedisConfiguration(url: url)
    }

    /// The connected client; only valid between `start()` and `stop()`.
    var client: RedisClient {
        guard let client = running.withLock({ $0?.client }) else { fatalError("RedisFixture used before start()") }
        return client
    }

    /// Starts a client and waits until it is connected.
    func start() async throws {
        let client = RedisClient(configuration: configuration, logger: Logger(label: "fanout.bench") { _ in SwiftLogNoOpLogHandler() })
        // The client's connect/reconnect loop runs until `stop()`; the benchmark's iterations
        // are not a structured scope it could be a child of.
        let task = Task { try await client.run() }
        running.withLock { $0 = Running(client: client, task: task) }
        try await client.waitUntilConnected(timeout: .seconds(5))
    }

    /// Stops the client and waits for its run loop to end.
    func stop() async {
        guard let running = running.withLock({ state in defer { state = nil }; return state }) else { return }
        running.client.stop()
        _ = try? await running.task.value
    }
}
