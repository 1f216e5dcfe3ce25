import Logging
import NIOCore

extension RedisConnection {
    /// Connects to the master the sentinels name, and checks that it says so itself (`ROLE`).
    /// When the named node cannot be reached or is not the master, the sentinels are asked again
    /// for another address before giving up: mid-failover they may not agree yet.
    ///
    /// - Throws: `.noSentinel` / `.unknownMaster` (from `SentinelResolver`); a connect error
    ///   naming the master's address and the sentinel that named it (a sentinel naming a dead
    ///   master, mid-failover); `.notMaster` when the node says it is a replica. All retryable:
    ///   the owner backs off and asks the sentinels again.
    static func connectToMaster(
        configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        let resolver = SentinelResolver(configuration)
        var failed: Set<String> = []
        var lastFailure: RedisError?
        while true {
            let answer: SentinelResolver.Answer
            do {
                answer = try await resolver.resolve(eventLoop: eventLoop, logger: logger, excluding: failed)
            } catch {
                // Every address the sentinels named failed: that failure says more than "none left".
                throw lastFailure ?? error
            }
            do {
                return try await connect(to: answer, configuration: configuration, masterName: resolver.sentinel.masterName, eventLoop: eventLoop, logger: logger)
            } catch {
                if error.code == .authenticationFailed { throw error }
                failed.insert(answer.address)
                lastFailure = error
            }
        }
    }

    private static func connect(
        to answer: SentinelResolver.Answer, configuration: RedisConfiguration, masterName name: String, eventLoop: any EventLoop, logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        var direct = configuration
        direct.sentinel = nil
        direct.host = answer.host
        direct.port = answer.port
        let connection: RedisConnection
        do {
            connection = try await connect(configuration: direct, eventLoop: eventLoop, logger: logger)
        } catch {
            guard error.code != .authenticationFailed else { throw error }
            throw RedisError(error.code, "master '\(name)' at \(answer.address), as sentinel \(answer.sentinel) names it: \(error.message)", command: error.command)
        }
        let reply: RedisValue
        do {
            reply = try await connection.sendFuture(.role()).get()
        } catch {
            connection.close()
            throw (error as? RedisError) ?? RedisError(.connectionClosed, "\(error)", command: "ROLE")
        }
        switch reply {
        case .array(let parts) where parts.first?.string == "master":
            return connection
        case .error(let message) where message.hasPrefix("NOPERM"):
            // An ACL user without @admin may not ask ROLE. The sentinels' word stands; a replica
            // would answer the first write with READONLY, which closes the connection anyway.
            logger.debug("ROLE not permitted for this user; trusting the sentinels", metadata: ["redis.address": "\(answer.address)"])
            return connection
        case .error(let message):
            connection.close()
            throw RedisError(.server, message, command: "ROLE")
        default:
            connection.close()
            let role = reply.array?.first?.string ?? "\(reply)"
            throw RedisError(
                .notMaster,
                "\(answer.address), named master '\(name)' by sentinel \(answer.sentinel), says its role is \(role): a failover is under way",
                command: "ROLE")
        }
    }

    /// Returns once this connection has closed. With a sentinel configuration it also watches a
    /// sentinel for `+switch-master`: when the master moved elsewhere it closes this connection
    /// (everything in flight fails retryably) and returns, so the owner reconnects to the new one.
    ///
    /// A dead master closes its connections by itself; the watch is for the cases where it does
    /// not: a partitioned master that still holds its clients, or a demoted one that came back as
    /// a replica (pub/sub connections never get a `READONLY` to notice it by).
    func waitUntilClosedOrMoved(_ configuration: RedisConfiguration, logger: Logger) async {
        guard configuration.sentinel != nil else {
            try? await closeFuture.get()
            return
        }
        let remote = channel.remoteAddress
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.closeFuture.get() }
            group.addTask {
                let watch = SentinelWatch(configuration: configuration, eventLoop: self.eventLoop, logger: logger)
                guard let moved = await watch.waitForSwitch(awayFrom: remote) else { return }
                logger.warning("sentinel reports a new master; reconnecting", metadata: [
                    "redis.master": "\(configuration.sentinel?.masterName ?? "")", "redis.address": "\(moved)",
                ])
                self.close(RedisError(.notMaster, "the master moved to \(moved)"))
            }
            await group.next()
            group.cancelAll()
        }
    }
}
