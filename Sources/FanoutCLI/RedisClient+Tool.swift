import FanoutRedis
import Logging

extension RedisClient {
    /// A connected client for a one-shot command (`stats`, `bench`); an unreachable Redis is one
    /// clear line and exit 1, not a stack trace.
    static func connectedForTool<Result: Sendable>(
        _ command: String, _ configuration: RedisConfiguration, logger: Logger, _ body: (RedisClient) async throws -> Result
    ) async throws -> Result {
        do {
            return try await withConnectedClient(
                configuration: configuration, logger: logger, timeout: configuration.connectTimeout + .seconds(1), body)
        } catch let error as RedisError where error.code == .timedOut && error.command == nil {
            exitWithOneLine(command, "cannot reach Redis at \(configuration.redactedURL): \(error)")
        }
    }
}
