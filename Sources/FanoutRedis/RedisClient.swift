public import NIOCore
public import NIOPosix
public import Logging
public import ServiceLifecycle
import Metrics
import Synchronization

/// A Redis client that keeps one pipelined connection open and reconnects when it fails.
///
/// Run it as a `Service` (`run()` owns the connect / wait / back off loop). It ends on cancellation
/// or `stop()`, not on graceful shutdown: its owner decides when nothing needs Redis any more
/// (an edge still writes `close` entries while it drains). Commands sent while
/// the connection is down fail at once with the retryable `.notConnected`: callers decide whether
/// to buffer, retry or refuse — the client never hides an unbounded queue.
///
/// A blocking read (`XREADGROUP … BLOCK`) must use a `RedisClient` of its own: it holds the
/// connection's reply FIFO for the whole block time.
///
/// With a `redis-cluster://` configuration the same API routes every command to the master of its
/// key's hash slot, over one connection per master (`RedisClusterClient`, decision 0040).
public final class RedisClient: Service, Sendable {
    private struct State {
        var connection: RedisConnection?
        var lastError: RedisError?
        var stopped = false
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter = 0
        var reconnects = 0
    }

    public let configuration: RedisConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = Mutex(State())
    /// The installed connection as seen from `eventLoop`, updated there on install and uninstall.
    private let loopConnection: NIOLoopBoundBox<RedisConnection?>
    private let onEvent: @Sendable (RedisConnectionEvent) -> Void
    /// Set for a `redis-cluster://` configuration: then every method below delegates to it.
    private let cluster: RedisClusterClient?

    /// - Parameters:
    ///   - onEvent: told about connects and disconnects (on an event loop; must not block).
    public convenience init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onEvent: @escaping @Sendable (RedisConnectionEvent) -> Void = { _ in }
    ) {
        self.init(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger, onEvent: onEvent)
    }

    /// A client whose connections all live on `eventLoop`: code on that loop can use
    /// `connectionOnLoop` to enqueue commands without a hop.
    public init(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        onEvent: @escaping @Sendable (RedisConnectionEvent) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.loopConnection = NIOLoopBoundBox.makeEmptyBox(valueType: RedisConnection.self, eventLoop: eventLoop)
        self.logger = logger
        self.onEvent = onEvent
        self.cluster = configuration.cluster == nil
            ? nil : RedisClusterClient(configuration: configuration, eventLoop: eventLoop, logger: logger, onEvent: onEvent)
    }

    /// The event loop of every connection this client opens.
    public var loop: any EventLoop { eventLoop }

    /// The current connection, if it is usable — for code running on `loop`, which enqueues
    /// commands on it directly (`RedisConnection.enqueue(_:receiver:tag:)`). Reads a lock-free
    /// loop-local copy of the installed connection.
    /// With a cluster configuration there is no one connection: use `connectionOnLoop(for:)`.
    public var connectionOnLoop: RedisConnection? {
        guard cluster == nil, let connection = loopConnection.value, connection.isUsable else { return nil }
        return connection
    }

    /// The usable connection that serves `slot` — in a cluster its master's, otherwise the one
    /// connection — for code running on `loop` (see `connectionOnLoop`).
    public func connectionOnLoop(for slot: HashSlot) -> RedisConnection? {
        guard let cluster else { return connectionOnLoop }
        return cluster.connectionOnLoop(for: slot)
    }

    /// `true` for a `redis-cluster://` configuration.
    var isCluster: Bool { cluster != nil }

    /// `true` while a connection is established (in a cluster: to the master of every slot).
    public var isConnected: Bool {
        if let cluster { return cluster.isConnected }
        return state.withLock { $0.connection?.isActive ?? false }
    }

    /// How many times an established connection was lost so far.
    public var reconnectCount: Int {
        if let cluster { return cluster.reconnectCount }
        return state.withLock { $0.reconnects }
    }

    /// Keeps the connection open until `stop()` or cancellation.
    public func run() async throws {
        if let cluster {
            await cluster.run()
            return
        }
        var attempt = 0
        var hadConnection = false
        await withTaskCancellationHandler {
            while !self.state.withLock({ $0.stopped }) {
                do {
                    let connection = try await RedisConnection.connect(
                        configuration: self.configuration, eventLoop: self.eventLoop, logger: self.logger)
                    attempt = 0
                    if !self.install(connection) {
                        connection.close()
                        break
                    }
                    self.onEvent(.connected(reconnect: hadConnection))
                    hadConnection = true
                    await connection.waitUntilClosedOrMoved(self.configuration, logger: self.logger)
                    let error = RedisError(.connectionClosed, "connection to \(self.configuration.redactedURL) lost")
                    self.uninstall(error)
                    if self.state.withLock({ $0.stopped }) { break }
                    self.logger.warning("redis connection lost; reconnecting", metadata: ["redis.url": "\(self.configuration.redactedURL)"])
                    RedisMetrics.reconnects.increment()
                    self.onEvent(.disconnected(error))
                } catch {
                    self.uninstall(error)
                    if attempt == 0 {
                        self.logger.warning("redis unavailable; retrying with backoff", metadata: [
                            "redis.url": "\(self.configuration.redactedURL)", "redis.error": "\(error)",
                        ])
                    }
                }
                let delay = self.configuration.reconnectBackoff.delay(attempt: attempt)
                attempt += 1
                do { try await Task.sleep(for: delay) } catch { break }
            }
        } onCancel: {
            self.stop()
        }
        stop()
    }

    /// Waits until a connection is established, up to `timeout`.
    public func waitUntilConnected(timeout: Duration) async throws {
        if let cluster { return try await cluster.waitUntilConnected(timeout: timeout) }
        if isConnected { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let id = self.state.withLock { state -> Int in
                    state.nextWaiter += 1
                    return state.nextWaiter
                }
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                        let resumeNow = self.state.withLock { state -> Bool in
                            if state.connection?.isActive == true { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    let continuation = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                    continuation?.resume(throwing: CancellationError())
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                let reason = self.state.withLock { $0.lastError.map { "\($0)" } ?? "no connection yet" }
                throw RedisError(.timedOut, "not connected to \(self.configuration.redactedURL) within \(timeout): \(reason)")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Sends one command; an error reply is thrown as `.server`.
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        do {
            if let cluster {
                let value = try await cluster.sendFuture(command).get()
                if case .error(let message) = value { throw RedisError(.server, message, command: command.name) }
                return value
            }
            return try await currentConnection(for: command.name).send(command)
        } catch {
            RedisMetrics.countError(error)
            throw error
        }
    }

    /// Sends one command without waiting for it: the future completes with its reply (error
    /// replies as `.error` values) or the connection's failure.
    public func sendFuture(_ command: RedisCommand) -> EventLoopFuture<RedisValue> {
        if let cluster { return cluster.sendFuture(command) }
        do {
            return try currentConnection(for: command.name).sendFuture(command)
        } catch {
            RedisMetrics.countError(error)
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends commands in one batch without waiting: the future completes with every reply in order.
    public func pipelineFuture(_ commands: [RedisCommand]) -> EventLoopFuture<[RedisValue]> {
        if let cluster { return cluster.pipelineFuture(commands) }
        do {
            return try currentConnection(for: commands.first?.name ?? "").pipelineFuture(commands)
        } catch {
            RedisMetrics.countError(error)
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends `commands` and then a stream read (XREADGROUP or XREAD) in one batch: the commands'
    /// replies in order, and the read's entries decoded as they are parsed (the worker's batch loop).
    public func pipeline(_ commands: [RedisCommand], thenRead read: RedisCommand) async throws -> PipelineReplies {
        do {
            if let cluster {
                // Cluster connections are shared by commands of many slots: the read's reply is
                // decoded after the fact.
                let values = try await cluster.pipelineFuture(commands + [read]).get()
                return PipelineReplies(values: Array(values.dropLast()), read: StreamEntry.readResult(values.last ?? .null, command: read.name))
            }
            return try await currentConnection(for: commands.first?.name ?? read.name).pipelineFuture(commands, thenRead: read).get()
        } catch {
            RedisMetrics.countError(error)
            throw error
        }
    }

    /// Sends commands in one batch and returns all replies in order (error replies as `.error` values).
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        do {
            if let cluster { return try await cluster.pipelineFuture(commands).get() }
            return try await currentConnection(for: commands.first?.name ?? "").pipeline(commands)
        } catch {
            RedisMetrics.countError(error)
            throw error
        }
    }

    private func currentConnection(for command: String) throws(RedisError) -> RedisConnection {
        let (connection, lastError, stopped) = state.withLock { ($0.connection, $0.lastError, $0.stopped) }
        // A connection that just failed stays installed until `run()` notices; treat it as gone.
        if let connection, connection.isActive { return connection }
        if stopped { throw RedisError(.shutdown, "the Redis client was shut down", command: command) }
        throw RedisError(.notConnected, lastError.map { "not connected: \($0.message)" } ?? "not connected yet", command: command)
    }

    private func install(_ connection: RedisConnection) -> Bool {
        let (waiters, stopped) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], Bool) in
            if state.stopped { return ([], true) }
            state.connection = connection
            state.lastError = nil
            let waiters = Array(state.waiters.values)
            state.waiters = [:]
            return (waiters, false)
        }
        if !stopped { setLoopConnection(connection) }
        for waiter in waiters { waiter.resume() }
        return !stopped
    }

    private func setLoopConnection(_ connection: RedisConnection?) {
        if eventLoop.inEventLoop {
            loopConnection.value = connection
        } else {
            eventLoop.execute { self.loopConnection.value = connection }
        }
    }

    private func uninstall(_ error: any Error) {
        let redisError = error as? RedisError ?? RedisError(.connectionClosed, "\(error)")
        state.withLock { state in
            if state.connection != nil { state.reconnects += 1 }
            state.connection = nil
            state.lastError = redisError
        }
        setLoopConnection(nil)
    }

    /// Closes the connection and ends `run()`; later commands fail with `.shutdown`.
    public func stop() {
        cluster?.stop()
        let connection = state.withLock { state -> RedisConnection? in
            state.stopped = true
            defer { state.connection = nil }
            return state.connection
        }
        connection?.close()
    }
}

/// What a `RedisClient` tells its owner about its connection.
public enum RedisConnectionEvent: Sendable {
    /// A connection was established; `reconnect` is `true` after an earlier one was lost.
    case connected(reconnect: Bool)
    /// The connection was lost; commands fail with `.notConnected` until the next `.connected`.
    case disconnected(RedisError)
}
