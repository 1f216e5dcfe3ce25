public import FanoutRedis
public import Logging

extension RedisClient {
    /// Runs a client against `server` for the duration of `body`, connected before `body` starts.
    public static func withTestClient<Result: Sendable>(
        _ server: RedisTestServer,
        logger: Logger = Logger(label: "fanout.test.redis"),
        _ body: (RedisClient) async throws -> Result
    ) async throws -> Result {
        let client = RedisClient(configuration: server.configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer {
                client.stop()
                group.cancelAll()
            }
            try await client.waitUntilConnected(timeout: .seconds(5))
            return try await body(client)
        }
    }
}
