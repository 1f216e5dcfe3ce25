public import NIOCore
import NIOPosix
public import Logging
import Metrics
import Synchronization

/// One TCP connection to Redis with automatic pipelining.
///
/// Threading: the socket, the hiredis reader and the reply FIFO are confined to one NIO event loop;
/// the cooperative thread pool only ever appends to a locked submission queue. The first submission
/// after a drain schedules one drain on the loop, which encodes everything queued by then and writes
/// it with a single flush — so commands sent concurrently by many tasks share one write and one
/// round trip. Replies resume their callers in order.
///
/// A connection is never repaired: when it fails, everything in flight fails with a retryable error
/// and the owner (`RedisClient`, `RedisSubscriber`) opens a new one.
public final class RedisConnection: Sendable {
    private struct Submission {
        var command: RedisCommand
        var single: CheckedContinuation<RedisValue, any Error>?
        var batch: (commands: [RedisCommand], continuation: CheckedContinuation<[RedisValue], any Error>)?
    }

    private struct Queue {
        var items: [Submission] = []
        var drainScheduled = false
    }

    let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>
    private let queue = Mutex(Queue())

    /// The event loop every operation of this connection runs on.
    public var eventLoop: any EventLoop { channel.eventLoop }
    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }
    /// `true` until the socket closes.
    public var isActive: Bool { channel.isActive }

    private init(channel: any Channel, handler: NIOLoopBound<RedisChannelHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Connects, authenticates, selects the database and names the client.
    ///
    /// - Throws: `RedisError` with `.connectionRefused` (nothing listens), `.connectFailed` (DNS,
    ///   unreachable), `.permissionDenied` (the OS refused a call), `.timedOut` (connect timeout) or
    ///   `.authenticationFailed`; the connection is closed before the error is thrown.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        let commandTimeout = configuration.commandTimeout
        let healthCheckInterval = configuration.healthCheckInterval
        // No channel options of our own: NIO's ClientBootstrap already sets TCP_NODELAY (at level
        // IPPROTO_TCP), which is all a pipelined connection needs. A `.socketOption` here would be
        // level SOL_SOCKET, where some options need privileges no container grants (issue 12:
        // `.socketOption(.tcp_nodelay)` was SO_DEBUG, which needs CAP_NET_ADMIN).
        // `RedisSocketOptionTests` reads the options back from a connected socket.
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(commandTimeout: commandTimeout, healthCheckInterval: healthCheckInterval)
                    )
                }
            }
        let address = "\(configuration.host):\(configuration.port)"
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError.connecting(to: address, failure: error, connectTimeout: configuration.connectTimeout)
        }
        let handler: NIOLoopBound<RedisChannelHandler>
        do {
            handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self), eventLoop: channel.eventLoop)
            }.get()
        } catch {
            channel.close(promise: nil)
            throw RedisError(.connectionClosed, "connection to \(address) closed during setup")
        }
        let connection = RedisConnection(channel: channel, handler: handler)
        do {
            try await connection.handshake(configuration)
        } catch {
            connection.close()
            throw error
        }
        logger.debug("redis connected", metadata: ["redis.address": "\(address)"])
        return connection
    }

    private func handshake(_ configuration: RedisConfiguration) async throws(RedisError) {
        var commands: [RedisCommand] = []
        if let password = configuration.password {
            commands.append(.auth(username: configuration.username, password: password))
        }
        if configuration.database != 0 { commands.append(.select(configuration.database)) }
        if let name = configuration.clientName { commands.append(.clientSetName(name)) }
        commands.append(.ping())
        let replies: [RedisValue]
        do {
            replies = try await pipeline(commands)
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.connectionClosed, "\(error)")
        }
        for (command, reply) in zip(commands, replies) {
            guard case .error(let message) = reply else { continue }
            // The message is Redis's own ("WRONGPASS …", "NOAUTH …"): it never contains the password.
            if command.name == "AUTH" || message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS") {
                throw RedisError(.authenticationFailed, message, command: command.name)
            }
            throw RedisError(.server, message, command: command.name)
        }
    }

    /// Sends one command and returns its reply; an error reply is thrown as `RedisError` `.server`.
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        let value = try await withCheckedThrowingContinuation { continuation in
            submit(Submission(command: command, single: continuation, batch: nil))
        }
        if case .error(let message) = value { throw RedisError(.server, message, command: command.name) }
        return value
    }

    /// Sends commands back to back in one write and returns every reply in order.
    /// Error replies are returned as `.error` values, so one failing command does not hide the others.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        guard let first = commands.first else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            submit(Submission(command: first, single: nil, batch: (commands, continuation)))
        }
    }

    private func submit(_ submission: Submission) {
        let scheduleDrain = queue.withLock { queue in
            queue.items.append(submission)
            defer { queue.drainScheduled = true }
            return !queue.drainScheduled
        }
        if scheduleDrain {
            channel.eventLoop.execute { self.drain() }
        }
    }

    /// Runs on the event loop: takes everything queued so far and writes it as one batch.
    private func drain() {
        let items = queue.withLock { queue in
            queue.drainScheduled = false
            return queue.items.exchange([])
        }
        var batch: [(RedisCommand, RedisResponder)] = []
        batch.reserveCapacity(items.count)
        for item in items {
            if let continuation = item.single {
                batch.append((item.command, .single(continuation)))
            } else if let (commands, continuation) = item.batch {
                let collector = RedisBatchCollector(count: commands.count, continuation: continuation)
                for (index, command) in commands.enumerated() {
                    batch.append((command, .batch(collector, index: index)))
                }
            }
        }
        RedisMetrics.batchSize.record(batch.count)
        handler.value.write(batch)
    }

    /// Closes the socket; everything in flight fails with `.connectionClosed`.
    public func close() {
        if channel.eventLoop.inEventLoop {
            handler.value.close(RedisError(.connectionClosed, "connection closed by the client"))
        } else {
            channel.eventLoop.execute {
                self.handler.value.close(RedisError(.connectionClosed, "connection closed by the client"))
            }
        }
    }

    // MARK: pub/sub mode (used by RedisSubscriber, on the event loop only)

    func enterPushMode(_ receiver: any RedisPushReceiver) {
        channel.eventLoop.preconditionInEventLoop()
        handler.value.pushReceiver = receiver
    }

    func writeUntracked(_ commands: [RedisCommand]) {
        channel.eventLoop.preconditionInEventLoop()
        handler.value.writeUntracked(commands)
    }
}

extension Array {
    /// Replaces the array with `replacement` and returns the old contents (no copy-on-write copy).
    fileprivate mutating func exchange(_ replacement: [Element]) -> [Element] {
        let old = self
        self = replacement
        return old
    }
}
