public import NIOCore
public import NIOPosix
public import Logging
public import ServiceLifecycle
import Metrics
import Synchronization

/// What a `RedisSubscriber` delivers to its owner, in order, on the subscriber's event loop.
public enum RedisSubscriberEvent: Sendable {
    /// A message published to a subscribed channel. Both buffers are slices of one reply, not copies.
    case message(channel: ByteBuffer, payload: ByteBuffer)
    /// Every message of one socket read was delivered: an owner that queued writes for them can
    /// flush now, once for the whole batch.
    case endOfBatch
    /// The connection was lost. Messages published from now until `.restored` are not received.
    case disconnected(RedisError)
    /// A new connection is up and every active subscription was restored; messages published
    /// between the preceding `.disconnected` and now may have been missed.
    case restored(channels: Int)
}

/// A pub/sub connection that can SUBSCRIBE and UNSUBSCRIBE at any moment while messages flow,
/// and that restores every subscription after a reconnect before it reports ready again.
///
/// With a `redis-cluster://` configuration every channel is a shard channel: the subscriber keeps
/// one connection per master (`RedisClusterSubscriber`), subscribes each channel with `SSUBSCRIBE`
/// on the master of its slot, and moves it when a reshard or failover moves the slot.
///
/// Threading: all state lives on one event loop, the same loop for every connection this
/// subscriber opens; `onEvent` is called there synchronously, in the order Redis sent the
/// messages, so it must hand work off without blocking. Because confirmations and messages share
/// one ordered socket, once `unsubscribe` returns no message of that channel is delivered.
public final class RedisSubscriber: Service, Sendable {
    private let configuration: RedisConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let core: NIOLoopBoundBox<RedisSubscriberCore>
    private let stopped = Atomic<Bool>(false)
    private let readyFlag = Atomic<Bool>(false)
    private let currentConnection = Mutex<RedisConnection?>(nil)
    /// Set for a `redis-cluster://` configuration: then the public methods delegate to it.
    private let cluster: RedisClusterSubscriber?

    public convenience init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onEvent: @escaping @Sendable (RedisSubscriberEvent) -> Void
    ) {
        self.init(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger, onEvent: onEvent)
    }

    /// A subscriber whose connections all live on `eventLoop`, where `onEvent` is called.
    public convenience init(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        onEvent: @escaping @Sendable (RedisSubscriberEvent) -> Void
    ) {
        self.init(configuration: configuration, eventLoop: eventLoop, logger: logger, sharded: false, onMoved: nil, onEvent: onEvent)
    }

    /// - Parameters:
    ///   - sharded: `SSUBSCRIBE`/`SUNSUBSCRIBE` on one cluster master (`RedisClusterSubscriber`'s nodes).
    ///   - onMoved: told (on the loop) about each channel the server dropped because its slot moved
    ///     away (`sunsubscribe` pushed, or `MOVED` when restoring it).
    init(
        configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger, sharded: Bool,
        onMoved: (@Sendable (String) -> Void)?, onEvent: @escaping @Sendable (RedisSubscriberEvent) -> Void
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.core = NIOLoopBoundBox.makeBoxSendingValue(
            RedisSubscriberCore(sharded: sharded, onMoved: onMoved, onEvent: onEvent), eventLoop: eventLoop)
        self.cluster = configuration.cluster == nil
            ? nil : RedisClusterSubscriber(configuration: configuration, eventLoop: eventLoop, logger: logger, onEvent: onEvent)
    }

    /// `true` while connected with every subscription in place (in a cluster: to every master).
    public var isReady: Bool {
        if let cluster { return cluster.isReady }
        return readyFlag.load(ordering: .acquiring)
    }

    /// Subscribes to `channels`; returns once Redis confirmed every one of them.
    /// - Throws: `.notConnected` while the subscriber is reconnecting.
    public func subscribe(_ channels: [String]) async throws {
        try await requestSubscribe(channels).get()
    }

    /// Unsubscribes from `channels`; returns once Redis confirmed (at once while disconnected).
    public func unsubscribe(_ channels: [String]) async throws {
        try await requestUnsubscribe(channels).get()
    }

    /// Queues a SUBSCRIBE now and returns a future for its confirmation.
    ///
    /// Requests are sent in the order of these calls, so a caller that decides under its own lock
    /// to subscribe or unsubscribe can call this inside that lock and keep the two orders equal.
    public func requestSubscribe(_ channels: [String]) -> EventLoopFuture<Void> {
        request(.subscribe, channels)
    }

    /// Queues an UNSUBSCRIBE now and returns a future for its confirmation (see `requestSubscribe`).
    public func requestUnsubscribe(_ channels: [String]) -> EventLoopFuture<Void> {
        request(.unsubscribe, channels)
    }

    private func request(_ kind: RedisSubscriberCore.Kind, _ channels: [String]) -> EventLoopFuture<Void> {
        if let cluster { return cluster.request(kind, channels) }
        let promise = eventLoop.makePromise(of: Void.self)
        guard !channels.isEmpty else {
            promise.succeed()
            return promise.futureResult
        }
        if eventLoop.inEventLoop {
            // Called from the subscriber's own loop (an edge's connection handler): no hop.
            core.value.request(kind, channels, promise)
        } else {
            eventLoop.execute { self.core.value.request(kind, channels, promise) }
        }
        return promise.futureResult
    }

    /// Takes over `channels` whose slot moved here (cluster nodes only; on the loop): subscribed
    /// now when connected, else restored with the rest on the next connect.
    func adopt(_ channels: [String]) {
        eventLoop.preconditionInEventLoop()
        core.value.adopt(channels)
    }

    /// Completes once everything Redis sent this subscriber before now has been delivered to
    /// `onEvent`: a `PING <token>` whose answer queues behind every message published before it.
    /// Fails while disconnected. (Graceful shutdown uses it: results published before the drain's
    /// check are in the owner's hands once it completes.)
    public func barrier() -> EventLoopFuture<Void> {
        if let cluster { return cluster.barrier() }
        let promise = eventLoop.makePromise(of: Void.self)
        if eventLoop.inEventLoop {
            core.value.barrier(promise)
        } else {
            eventLoop.execute { self.core.value.barrier(promise) }
        }
        return promise.futureResult
    }

    /// The event loop of every connection this subscriber opens, where `onEvent` is called.
    public var loop: any EventLoop { eventLoop }

    /// The channels currently subscribed (confirmed), for diagnostics and tests.
    public func activeChannels() async -> Set<String> {
        if let cluster { return await cluster.activeChannels() }
        return (try? await eventLoop.submit { self.core.value.channels }.get()) ?? []
    }

    /// Keeps a subscriber connection open until `stop()` or cancellation.
    public func run() async throws {
        if let cluster {
            await cluster.run()
            return
        }
        var attempt = 0
        var hadConnection = false
        await withTaskCancellationHandler {
            while !self.stopped.load(ordering: .acquiring) {
                do {
                    let connection = try await RedisConnection.connect(
                        configuration: self.configuration, eventLoop: self.eventLoop, logger: self.logger)
                    self.currentConnection.withLock { $0 = connection }
                    if self.stopped.load(ordering: .acquiring) {
                        connection.close()
                        break
                    }
                    attempt = 0
                    // Restore every subscription before reporting ready: messages for a channel the
                    // owner believes subscribed must not be silently missing on the new connection.
                    let restored = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                        self.eventLoop.execute { self.core.value.attach(connection, restored: continuation) }
                    }
                    self.readyFlag.store(true, ordering: .releasing)
                    if hadConnection {
                        RedisMetrics.reconnects.increment()
                        self.logger.info("redis subscriber reconnected", metadata: ["redis.channels": "\(restored)"])
                        self.eventLoop.execute { self.core.value.emit(.restored(channels: restored)) }
                    }
                    hadConnection = true
                    await connection.waitUntilClosedOrMoved(self.configuration, logger: self.logger)
                } catch {
                    if attempt == 0 {
                        self.logger.warning("redis subscriber cannot connect; retrying with backoff", metadata: [
                            "redis.url": "\(self.configuration.redactedURL)", "redis.error": "\(error)",
                        ])
                    }
                }
                self.readyFlag.store(false, ordering: .releasing)
                self.currentConnection.withLock { $0 = nil }
                let lost = RedisError(.connectionClosed, "subscriber connection lost")
                let notify = hadConnection && !self.stopped.load(ordering: .acquiring)
                try? await self.eventLoop.submit { self.core.value.detach(lost, notify: notify) }.get()
                if self.stopped.load(ordering: .acquiring) { break }
                let delay = self.configuration.reconnectBackoff.delay(attempt: attempt)
                attempt += 1
                do { try await Task.sleep(for: delay) } catch { break }
            }
        } onCancel: {
            self.stop()
        }
        stop()
    }

    /// Closes the connection and ends `run()`.
    public func stop() {
        cluster?.stop()
        stopped.store(true, ordering: .releasing)
        readyFlag.store(false, ordering: .releasing)
        currentConnection.withLock { $0 }?.close()
    }
}

/// The subscriber's state machine. Confined to the subscriber's event loop.
final class RedisSubscriberCore: RedisPushReceiver {
    enum Kind { case subscribe, unsubscribe }

    /// One SUBSCRIBE or UNSUBSCRIBE awaiting a confirmation per channel, in order.
    private struct Operation {
        let kind: Kind
        var remaining: [String]
        var confirmed = 0
        let continuation: EventLoopPromise<Void>?
        /// Set on the last chunk of a restore: resumed with the channel count when it completes.
        var restored: CheckedContinuation<Int, any Error>?
    }

    /// Channels Redis confirmed; restored after every reconnect.
    private(set) var channels: Set<String> = []
    private var operations = CircularBuffer<Operation>()
    private var connection: RedisConnection?
    /// `barrier()` calls awaiting their PING's answer, by token.
    private var barriers: [String: EventLoopPromise<Void>] = [:]
    private var nextBarrier = 0
    private let onEvent: @Sendable (RedisSubscriberEvent) -> Void
    /// Channels per SUBSCRIBE command when restoring, to keep each command a reasonable size.
    private let chunkSize = 512
    /// Shard channels (`SSUBSCRIBE`, `smessage`, `sunsubscribe`) on one cluster master.
    private let sharded: Bool
    /// Told about channels the server dropped because their slot moved (sharded only).
    private let onMoved: (@Sendable (String) -> Void)?

    init(sharded: Bool = false, onMoved: (@Sendable (String) -> Void)? = nil, onEvent: @escaping @Sendable (RedisSubscriberEvent) -> Void) {
        self.sharded = sharded
        self.onMoved = onMoved
        self.onEvent = onEvent
    }

    func emit(_ event: RedisSubscriberEvent) { onEvent(event) }

    func attach(_ connection: RedisConnection, restored: CheckedContinuation<Int, any Error>) {
        self.connection = connection
        connection.enterPushMode(self)
        if channels.isEmpty {
            restored.resume(returning: 0)
            return
        }
        let chunks = self.chunks(Array(channels))
        for (index, chunk) in chunks.enumerated() {
            enqueue(Operation(kind: .subscribe, remaining: chunk, continuation: nil, restored: index == chunks.count - 1 ? restored : nil))
        }
    }

    /// `channels` in commands of at most `chunkSize`; sharded, one slot per command (an
    /// `SSUBSCRIBE` naming channels of several slots is refused with `CROSSSLOT`).
    private func chunks(_ channels: [String]) -> [[String]] {
        let groups = sharded ? Array(Dictionary(grouping: channels) { HashSlot(key: $0) }.values) : [channels]
        return groups.flatMap { group in
            stride(from: 0, to: group.count, by: chunkSize).map { Array(group[$0..<min($0 + chunkSize, group.count)]) }
        }
    }

    /// Subscribes `channels` without anyone waiting (sharded nodes taking over moved slots).
    func adopt(_ new: [String]) {
        guard connection != nil else {
            channels.formUnion(new)  // restored with the rest on the next connect
            return
        }
        for chunk in chunks(new) { enqueue(Operation(kind: .subscribe, remaining: chunk, continuation: nil)) }
    }

    func detach(_ error: RedisError, notify: Bool) {
        guard connection != nil || !operations.isEmpty else { return }
        connection = nil
        for promise in barriers.values { promise.fail(error) }
        barriers = [:]
        while let operation = operations.popFirst() {
            operation.continuation?.fail(error)
            operation.restored?.resume(throwing: error)
        }
        if notify { onEvent(.disconnected(error)) }
    }

    func request(_ kind: Kind, _ channels: [String], _ continuation: EventLoopPromise<Void>) {
        guard connection != nil else {
            switch kind {
            case .subscribe:
                continuation.fail(RedisError(.notConnected, "subscriber is reconnecting", command: "SUBSCRIBE"))
            case .unsubscribe:
                // Nothing to tell a server we are not connected to; forgetting the channel is enough.
                self.channels.subtract(channels)
                continuation.succeed()
            }
            return
        }
        enqueue(Operation(kind: kind, remaining: channels, continuation: continuation))
    }

    func barrier(_ promise: EventLoopPromise<Void>) {
        guard let connection else {
            return promise.fail(RedisError(.notConnected, "subscriber is reconnecting", command: "PING"))
        }
        nextBarrier += 1
        let token = "fanout-barrier-\(nextBarrier)"
        barriers[token] = promise
        connection.enqueueUntracked(RedisCommand("PING", [token]))
    }

    private func enqueue(_ operation: Operation) {
        operations.append(operation)
        var command = RedisCommand(operation.kind == .subscribe ? (sharded ? "SSUBSCRIBE" : "SUBSCRIBE") : (sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE"))
        for channel in operation.remaining { command.append(channel) }
        connection?.enqueueUntracked(command)
    }

    func receive(_ value: RedisValue) {
        // A barrier's answer: ["pong", token] while subscribed to something, the bare token while not.
        if !barriers.isEmpty {
            var token: String?
            if case .array(let parts) = value, parts.count == 2, parts[0].string == "pong" { token = parts[1].string }
            if case .bulkString = value { token = value.string }
            if let token, let promise = barriers.removeValue(forKey: token) { return promise.succeed() }
        }
        guard case .array(let parts) = value, parts.count >= 3, case .bulkString(let kindBytes) = parts[0] else {
            if case .error(let message) = value, let operation = operations.popFirst() {
                if sharded, operation.continuation == nil, RedisError.meansSlotMoved(message) {
                    // A restored or adopted channel whose slot moved while we were away: the
                    // cluster subscriber places it on its new master.
                    channels.subtract(operation.remaining)
                    operation.remaining.forEach { onMoved?($0) }
                    operation.restored?.resume(returning: channels.count)
                    return
                }
                operation.continuation?.fail(RedisError(.server, message, command: "SUBSCRIBE"))
                operation.restored?.resume(throwing: RedisError(.server, message, command: "SUBSCRIBE"))
            }
            return  // PONG replies to health checks land here too
        }
        let kind = kindBytes.readableBytesView
        // Sharded kinds are the plain ones with an `s` in front: smessage, ssubscribe, sunsubscribe.
        switch sharded && kind.count > 1 && kind.first == UInt8(ascii: "s") ? kind[kind.startIndex + 1] : kind.first {
        case UInt8(ascii: "m"):  // message
            guard case .bulkString(let channel) = parts[1], case .bulkString(let payload) = parts[2] else { return }
            onEvent(.message(channel: channel, payload: payload))
        case UInt8(ascii: "s"):  // subscribe
            confirm(.subscribe, parts[1].string ?? "")
        case UInt8(ascii: "u"):  // unsubscribe
            confirm(.unsubscribe, parts[1].string ?? "")
        default:
            break
        }
    }

    func receiveMessage(channel: ByteBuffer, payload: ByteBuffer) {
        onEvent(.message(channel: channel, payload: payload))
    }

    func receiveComplete() {
        onEvent(.endOfBatch)
    }

    private func confirm(_ kind: Kind, _ channel: String) {
        if sharded, kind == .unsubscribe, operations.first.map({ $0.kind != .unsubscribe || !$0.remaining.contains(channel) }) ?? true {
            // Not an answer to our SUNSUBSCRIBE: the server dropped the channel because its slot
            // moved to another master (a reshard or a failover).
            channels.remove(channel)
            onMoved?(channel)
            return
        }
        switch kind {
        case .subscribe: channels.insert(channel)
        case .unsubscribe: channels.remove(channel)
        }
        guard var operation = operations.first, operation.kind == kind else { return }
        operation.confirmed += 1
        if operation.confirmed < operation.remaining.count {
            operations[operations.startIndex] = operation
            return
        }
        operations.removeFirst()
        operation.continuation?.succeed()
        operation.restored?.resume(returning: channels.count)
    }
}
