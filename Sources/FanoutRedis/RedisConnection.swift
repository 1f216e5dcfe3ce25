public import NIOCore
import NIOPosix
public import Logging
import Metrics
import Synchronization

/// One TCP connection to Redis with automatic pipelining.
///
/// Threading: the socket, the hiredis reader and the reply FIFO are confined to one NIO event loop.
/// Code on that loop (an edge's connection handlers) enqueues commands directly, with a
/// `RedisReplyReceiver` for the reply: no lock, no continuation, no hop. Async callers elsewhere
/// hop to the loop once per `send` or `pipeline` call and wait on a promise. Either way, every
/// command enqueued during one event-loop tick goes out in one write with one flush, and replies
/// come back in order.
///
/// A connection is never repaired: when it fails, everything in flight fails with a retryable error
/// and the owner (`RedisClient`, `RedisSubscriber`) opens a new one.
public final class RedisConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>

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
    ///   `.authenticationFailed`; the connection is closed before the error is thrown. With a
    ///   sentinel configuration, also the errors of `connectToMaster`.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws(RedisError) -> RedisConnection {
        if configuration.sentinel != nil {
            return try await connectToMaster(configuration: configuration, eventLoop: eventLoop, logger: logger)
        }
        if configuration.cluster != nil {
            return try await connectToSeed(configuration: configuration, eventLoop: eventLoop, logger: logger)
        }
        let commandTimeout = configuration.commandTimeout
        let healthCheckInterval = configuration.healthCheckInterval
        let writeCoalescing = configuration.writeCoalescing
        let coalescingAdapts = configuration.coalescingAdapts
        let oneWriteInFlight = configuration.oneWriteInFlight
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
                        RedisChannelHandler(
                            commandTimeout: commandTimeout, healthCheckInterval: healthCheckInterval,
                            writeCoalescing: writeCoalescing, coalescingAdapts: coalescingAdapts, oneWriteInFlight: oneWriteInFlight,
                            replication: ReplicationGate(configuration))
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
        let value = try await sendFuture(command).get()
        if case .error(let message) = value { throw RedisError(.server, message, command: command.name) }
        return value
    }

    /// Sends one command; the future completes with its reply (error replies as `.error` values).
    public func sendFuture(_ command: RedisCommand) -> EventLoopFuture<RedisValue> {
        let promise = channel.eventLoop.makePromise(of: RedisValue.self)
        onLoop { $0.enqueue(command, responder: .promise(promise)) }
        return promise.futureResult
    }

    /// Sends commands back to back in one write and returns every reply in order.
    /// Error replies are returned as `.error` values, so one failing command does not hide the others.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        try await pipelineFuture(commands).get()
    }

    /// `pipeline` as a future.
    public func pipelineFuture(_ commands: [RedisCommand]) -> EventLoopFuture<[RedisValue]> {
        guard !commands.isEmpty else { return channel.eventLoop.makeSucceededFuture([]) }
        return pipelineFuture(commands, read: nil).map(\.values)
    }

    /// `commands` and then a stream read (XREADGROUP or XREAD of one or more streams) in one write:
    /// the read's reply is decoded into entries as it is parsed, with no `RedisValue` in between.
    public func pipelineFuture(_ commands: [RedisCommand], thenRead read: RedisCommand) -> EventLoopFuture<PipelineReplies> {
        pipelineFuture(commands, read: read)
    }

    private func pipelineFuture(_ commands: [RedisCommand], read: RedisCommand?) -> EventLoopFuture<PipelineReplies> {
        let promise = channel.eventLoop.makePromise(of: PipelineReplies.self)
        onLoop { handler in
            let collector = RedisBatchCollector(count: commands.count, read: read != nil, promise: promise)
            for (index, command) in commands.enumerated() {
                handler.enqueue(command, responder: .batch(collector, index: index))
            }
            if let read { handler.enqueue(read, responder: .streamRead(collector)) }
        }
        return promise.futureResult
    }

    /// Runs `body` with the handler on the connection's loop: at once when already there (no hop),
    /// else with one `execute`.
    private func onLoop(_ body: @escaping @Sendable (RedisChannelHandler) -> Void) {
        if channel.eventLoop.inEventLoop {
            body(handler.value)
        } else {
            channel.eventLoop.execute { body(self.handler.value) }
        }
    }

    // MARK: loop-local hot path

    /// `true` while commands can be enqueued. Call on the connection's event loop only.
    public var isUsable: Bool { handler.value.isUsable }

    /// Enqueues `command` from the connection's event loop; its reply (or failure) goes to
    /// `receiver` with `tag`, on this loop, in enqueue order. Never waits and never allocates per
    /// command beyond what `command` writes.
    ///
    /// `replicated`: with `minReplicas` > 0 the reply is held until the WAIT sent after this
    /// write batch confirms enough replicas, and failed with `.notReplicated` if it does not
    /// (see `ReplicationGate`); with 0 it changes nothing.
    public func enqueue(_ command: some RedisCommandEncodable, receiver: any RedisReplyReceiver, tag: Int, replicated: Bool = false) {
        handler.value.enqueue(command, responder: .receiver(receiver, tag: tag), replicated: replicated)
    }

    /// `enqueue(_:receiver:tag:replicated:)` for a receiver that needs only to know the command
    /// succeeded: a reply that is not an error reaches it as `.null`, without being made into a
    /// value (an XADD's entry ID, when nobody reads it, is a buffer allocated and freed per command).
    /// A reply held for a WAIT (`replicated` with `minReplicas` > 0) arrives as itself.
    public func enqueue(_ command: some RedisCommandEncodable, acknowledgedTo receiver: any RedisReplyReceiver, tag: Int, replicated: Bool = false) {
        handler.value.enqueue(command, responder: .acknowledgement(receiver, tag: tag), replicated: replicated)
    }

    /// Closes the socket; everything in flight fails with `.connectionClosed`.
    public func close() {
        close(RedisError(.connectionClosed, "connection closed by the client"))
    }

    /// Closes the socket; everything in flight fails with `error`.
    func close(_ error: RedisError) {
        if channel.eventLoop.inEventLoop {
            handler.value.close(error)
        } else {
            channel.eventLoop.execute { self.handler.value.close(error) }
        }
    }

    /// Calls `observer` on the connection's loop for every `MOVED`, `ASK` or `CLUSTERDOWN` reply
    /// (a cluster connection's owner refreshes its slot map then). Set before any command is sent.
    func observeRedirects(_ observer: @escaping @Sendable () -> Void) {
        if channel.eventLoop.inEventLoop {
            handler.value.onRedirect = observer
        } else {
            channel.eventLoop.execute { self.handler.value.onRedirect = observer }
        }
    }

    // MARK: pub/sub mode (used by RedisSubscriber, on the event loop only)

    func enterPushMode(_ receiver: any RedisPushReceiver) {
        channel.eventLoop.preconditionInEventLoop()
        handler.value.pushReceiver = receiver
    }

    func enqueueUntracked(_ command: some RedisCommandEncodable) {
        handler.value.enqueueUntracked(command)
    }
}
