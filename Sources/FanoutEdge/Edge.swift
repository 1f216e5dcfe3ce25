public import FanoutCore
public import FanoutRedis
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
public import ServiceLifecycle
import Synchronization

/// A WebSocket edge: holds client connections, appends every inbound frame to the inbound
/// stream, and writes what workers publish on each connection's channel back to its client.
///
/// Built on SwiftNIO channel handlers (decision 0004): each event loop of the edge's group has its
/// own `EdgeLoop` with a Redis command connection and a subscriber of its own, and each WebSocket
/// is a `WebSocketConnection` handler on its channel's loop. No task runs per connection or frame.
///
/// Runs as a `Service`. Graceful shutdown (SIGTERM): readiness goes false first, so load
/// balancers stop sending new clients; new upgrades are refused with 503; after
/// `FANOUT_DRAIN_DELAY_MS`, every open connection receives what is already queued for it, then a
/// 1001 "going away" close; once all connections ended (or `shutdownTimeout` passed) the
/// listener, the Redis connections and the event loops stop.
public final class Edge: Service, Sendable {
    public let configuration: EdgeConfiguration
    public let counters = EdgeCounters()
    let logger: Logger
    let context: EdgeContext
    let admission: AdmissionControl
    /// The edge's own event loops: connections, and the Redis connections they use, live here.
    private let group: MultiThreadedEventLoopGroup
    /// One per event loop of `group`, in the same order.
    private let loops: [LoopSlot]
    /// Heartbeats, lag samples, dead-edge cleanup and other work off the hot path.
    let redis: RedisClient
    /// Set once a heartbeat reached Redis: an edge others cannot see must not take clients, since
    /// nobody could clean up after it.
    let heartbeatRecorded = Atomic<Bool>(false)
    private let boundPort = BoundPort()

    public init(configuration: EdgeConfiguration, logger: Logger) {
        self.configuration = configuration
        var edgeLogger = logger
        edgeLogger[metadataKey: "fanout.edge"] = "\(configuration.edgeID)"
        self.logger = edgeLogger
        self.admission = AdmissionControl(configuration: configuration, counters: counters, logger: edgeLogger)
        let context = EdgeContext(configuration: configuration, counters: counters, admission: admission, logger: edgeLogger)
        self.context = context
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        self.loops = group.makeIterator().enumerated().map { index, eventLoop in
            LoopSlot(eventLoop: eventLoop, index: index, context: context, redis: configuration.common.redis)
        }
        self.redis = loops[0].redis
    }

    var keySpace: KeySpace { configuration.common.keySpace }

    /// `true` while Redis is reachable, every subscriber is ready, and the edge is not draining.
    public var isReady: Bool { notReadyReason == nil }

    /// Why the edge is not ready, or `nil` when it is (`/readyz` answers it).
    var notReadyReason: String? {
        if context.isDraining { return "draining" }
        if !loops.allSatisfy({ $0.redis.isConnected }) { return "redis unavailable" }
        if !loops.allSatisfy({ $0.subscriber.isReady }) { return "subscriber not ready" }
        if !heartbeatRecorded.load(ordering: .relaxed) { return "heartbeat not recorded yet" }
        return nil
    }

    /// `true` once graceful shutdown began.
    public var isDraining: Bool { context.isDraining }

    /// Connections open on this edge right now.
    public var connectionCount: Int { context.connectionCount }

    /// The most frames any one client has waiting in its outbound buffer right now (at least;
    /// bounded by `FANOUT_OUTBOX_MESSAGES`), for diagnostics and tests.
    public func largestOutbox() async -> Int {
        var largest = 0
        for slot in loops {
            let value = try? await slot.eventLoop.submit { slot.loop.largestPendingFrames }.get()
            largest = max(largest, value ?? 0)
        }
        return largest
    }

    /// The port the server listens on, once it does (useful with port 0); `nil` if cancelled first.
    public func listeningPort() async -> Int? {
        await boundPort.wait()
    }

    public func run() async throws {
        let authenticator = try await Authenticator.make(configuration)
        for slot in loops { try await slot.eventLoop.submit { slot.loop.start() }.get() }
        defer {
            for slot in loops {
                slot.redis.stop()
                slot.subscriber.stop()
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for slot in loops {
                tasks.addTask { try await slot.redis.run() }
                tasks.addTask { try await slot.subscriber.run() }
            }
            tasks.addTask { await self.heartbeat() }
            tasks.addTask { await self.admission.run(redis: self.redis, keySpace: self.keySpace) }
            if configuration.agentPort > 0 {
                let agent = AgentCheckServer(host: configuration.host, port: configuration.agentPort, logger: logger) { self.agentState }
                tasks.addTask { try await agent.run() }
            }
            defer { tasks.cancelAll() }
            let server = try await bind(authenticator: authenticator)
            serverStarted(port: server.localAddress?.port ?? configuration.port)
            // Serve until graceful shutdown (then drain) or cancellation (then stop at once).
            if (try? await gracefulShutdown()) != nil {
                context.startDraining()
                await drain()
            }
            try? await server.close()
            for slot in loops { try? await slot.eventLoop.submit { slot.loop.stop() }.get() }
            logger.info("edge stopped")
        }
        try await group.shutdownGracefully()
    }

    /// The listening socket; each accepted connection gets the HTTP pipeline with the upgrade to
    /// WebSocket, on the event loop NIO assigned it.
    private func bind(authenticator: Authenticator) async throws -> any Channel {
        let gate = UpgradeGate(edge: context, authenticator: authenticator)
        let handshake = WebSocketUpgrader.makeHandshake(maxFrameSize: configuration.maxMessageBytes)
        let configuration = self.configuration
        let counters = self.counters
        let loops = self.loops
        let readiness: EdgeHTTPHandler.Readiness = { self.notReadyReason }
        let waterMark = ChannelOptions.Types.WriteBufferWaterMark(
            low: max(1, configuration.outboxBytes / 2), high: configuration.outboxBytes)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: waterMark)
            // Small reads for small frames; grows for a client that sends large ones.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 64 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let slot = loops.first(where: { $0.eventLoop === channel.eventLoop }) else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    let http = EdgeHTTPHandler(configuration: configuration, counters: counters, readiness: readiness)
                    let upgrader = WebSocketUpgrader(handshake: handshake, gate: gate, loop: slot.loop)
                    let removeHTTP = NIOLoopBound(http, eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (
                            upgraders: [upgrader],
                            completionHandler: { context in
                                context.pipeline.syncOperations.removeHandler(removeHTTP.value, promise: nil)
                            }
                        ),
                        withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(http)
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
    }

    /// What HAProxy's agent-check hears: `drain` while shutting down, `down` while not ready, else
    /// `up ready N%` with N falling from 100 to 1 as connections approach `maxConnections`.
    var agentState: String {
        if isDraining { return "drain" }
        if !isReady { return "down" }
        let used = Double(connectionCount) / Double(configuration.maxConnections)
        return "up ready \(max(1, Int((1 - used) * 100)))%"
    }

    /// Drains exactly (issue 15): stops taking client frames (each one is answered with the error
    /// frame `draining`), waits until every entry this edge appended has been acknowledged by a
    /// worker — workers publish results before they acknowledge, so every result is then
    /// published — and received by every subscriber, then closes each connection with 1001 after
    /// what was written to it. All of it within the shutdown timeout.
    private func drain() async {
        if configuration.drainDelay > .zero {
            // Readiness and the agent already say "drain": give load balancers time to notice.
            try? await Task.sleep(for: configuration.drainDelay)
        }
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        // A quarter of the timeout (at most a second) stays for the close handshakes.
        let acknowledgementDeadline = deadline - min(.seconds(1), configuration.shutdownTimeout / 4)
        for slot in loops { try? await slot.eventLoop.submit { slot.loop.stopTakingFrames() }.get() }
        let started = ContinuousClock.now
        logger.info("edge draining: refusing new messages until every accepted one is answered")
        if await waitForAcknowledgements(until: acknowledgementDeadline) {
            for slot in loops { try? await slot.subscriber.barrier().get() }
            logger.info("drain: every accepted message was answered", metadata: ["fanout.ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))"])
        } else {
            logger.warning("drain: not every appended entry was acknowledged in time; some replies may not reach their clients")
        }
        logger.info("edge draining: closing connections with 1001 after flushing them", metadata: ["fanout.count": "\(connectionCount)"])
        for slot in loops { slot.eventLoop.execute { slot.loop.closeAllForShutdown() } }
        let remaining = max(.zero, deadline - ContinuousClock.now)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.context.connectionClosedSignal.wait { self.connectionCount == 0 } }
            group.addTask { try? await Task.sleep(for: remaining) }
            await group.next()
            group.cancelAll()
        }
        if connectionCount > 0 {
            logger.warning("drain timed out; remaining connections are dropped", metadata: ["fanout.count": "\(connectionCount)"])
        }
        // A clean exit leaves no heartbeat behind for others to expire.
        _ = try? await redis.send(.zrem(keySpace.edges, [configuration.edgeID.rawValue]))
    }

    /// Waits until no XADD is in flight on any loop, then until workers acknowledged every entry.
    private func waitForAcknowledgements(until deadline: ContinuousClock.Instant) async -> Bool {
        while ContinuousClock.now < deadline {
            var inFlight = 0
            for slot in loops { inFlight += (try? await slot.eventLoop.submit { slot.loop.appendsInFlight }.get()) ?? 0 }
            if inFlight == 0 { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        // Every inbound partition, one after the other: each wait ends as soon as its stream is done.
        for partition in context.inboundPartitions {
            guard await AcknowledgementWait(redis: redis, stream: partition.name, edgeID: configuration.edgeID).wait(until: deadline) else { return false }
        }
        return true
    }

    /// Records in Redis that this edge is alive (sorted set `edges`: edge ID → last beat), and cleans
    /// up after edges whose heartbeat expired.
    private func heartbeat() async {
        let sweeper = DeadEdgeSweeper(edge: self)
        while !Task.isCancelled {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            if (try? await redis.send(.zadd(keySpace.edges, score: now, member: configuration.edgeID.rawValue))) != nil {
                heartbeatRecorded.store(true, ordering: .relaxed)
            }
            await sweeper.sweep(now: now)
            try? await Task.sleep(for: configuration.heartbeatInterval)
        }
    }

    func serverStarted(port: Int) {
        boundPort.announce(port)
        logger.info("edge listening", metadata: ["fanout.url": "ws://\(configuration.host):\(port)/ws"])
    }

    /// Removes the connection from every room it joined (presence lives in Redis, written by workers).
    func removePresence(of id: ConnectionID) async {
        do {
            let rooms = try await redis.send(.smembers(keySpace.connectionRooms(id)))
            _ = try await redis.pipeline(PresenceCleanup.commands(for: id, roomsReply: rooms, keySpace: keySpace))
        } catch {
            logger.warning("presence cleanup failed; the connection may stay listed in its rooms", metadata: ["fanout.error": "\(error)"])
        }
    }
}

/// One event loop of an edge with its `EdgeLoop` and the Redis connections pinned to it.
private struct LoopSlot: Sendable {
    let eventLoop: any EventLoop
    let redis: RedisClient
    let subscriber: RedisSubscriber
    /// Set on the loop before the edge starts (tasks on one loop run in order), read only there.
    private let box: NIOLoopBoundBox<EdgeLoop?>

    init(eventLoop: any EventLoop, index: Int, context: EdgeContext, redis configuration: RedisConfiguration) {
        self.eventLoop = eventLoop
        var configuration = configuration
        configuration.clientName = "fanout-edge-\(context.configuration.edgeID)-\(index)"
        configuration.writeCoalescing = context.configuration.appendLinger
        configuration.coalescingAdapts = context.configuration.lingerAdapts
        configuration.oneWriteInFlight = context.configuration.appendOneWriteInFlight
        let redis = RedisClient(configuration: configuration, eventLoop: eventLoop, logger: context.logger)
        configuration.writeCoalescing = .zero
        configuration.coalescingAdapts = false
        configuration.oneWriteInFlight = false
        configuration.clientName = "fanout-edge-subscriber-\(context.configuration.edgeID)-\(index)"
        let box = NIOLoopBoundBox.makeEmptyBox(valueType: EdgeLoop.self, eventLoop: eventLoop)
        let subscriber = RedisSubscriber(configuration: configuration, eventLoop: eventLoop, logger: context.logger) { event in
            box.value?.handle(event)
        }
        self.redis = redis
        self.subscriber = subscriber
        self.box = box
        eventLoop.execute { box.value = EdgeLoop(eventLoop: eventLoop, edge: context, redis: redis, subscriber: subscriber) }
    }

    /// The loop's state; on `eventLoop` only.
    var loop: EdgeLoop { box.value! }
}
