public import FanoutBench
import Logging

/// The bench's direct reference server on a free port, for the duration of `body`.
public enum TestDirect {
    /// Starts a ``DirectServer`` on port 0, runs `body` with its `ws://127.0.0.1:<port>/ws` target,
    /// then cancels the server.
    public static func run<Result: Sendable>(_ body: @Sendable (BenchTarget) async throws -> Result) async throws -> Result {
        let server = DirectServer(port: 0, logger: testLogger())
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            guard let port = try await withTimeout(.seconds(10), "direct server listening", { await server.listeningPort() }) else {
                throw TimedOut(what: "direct server listening", after: .seconds(10))
            }
            return try await body(BenchTarget(port: port))
        }
    }
}
