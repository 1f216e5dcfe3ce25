public import FanoutRedis
public import Logging

extension RedisClient {
    /// Runs a client against `server` for the duration of `body`, connected before `body` starts.
    public static func withTestClient<Result: Sendable>(
        _ server: RedisTestServer,
        logger: Logger = Logger(label: "fanout.test.redis"),
        _ body: (RedisClient) async throws -> Result
    ) async throws -> Result {
        try await withConnectedClient(configuration: server.configuration, logger: logger, timeout: .seconds(5), body)
    }
}
