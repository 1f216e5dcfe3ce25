public import Logging

extension RedisClient {
    /// Runs a client for the duration of `body` (short-lived tools, tests): connected before `body`
    /// starts, stopped when it returns or throws.
    /// - Throws: `.timedOut` when no connection is made within `timeout`, or what `body` throws.
    public static func withConnectedClient<Result: Sendable>(
        configuration: RedisConfiguration,
        logger: Logger,
        timeout: Duration,
        _ body: (RedisClient) async throws -> Result
    ) async throws -> Result {
        let client = RedisClient(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer {
                client.stop()
                group.cancelAll()
            }
            try await client.waitUntilConnected(timeout: timeout)
            return try await body(client)
        }
    }
}
