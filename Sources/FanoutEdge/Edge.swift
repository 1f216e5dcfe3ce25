public import FanoutCore
public import FanoutRedis
import Foundation
import Hummingbird
import HummingbirdWebSocket
public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization

/// A WebSocket edge: holds client connections, appends every inbound frame to the inbound
/// stream, and writes what workers publish on each connection's channel back to its client.
///
/// Runs as a `Service`. Graceful shutdown (SIGTERM): readiness goes false first, so load
/// balancers stop sending new clients; new upgrades are refused with 503; every open connection
/// receives what is already queued for it, then a 1001 "going away" close; once all connections
/// ended (or `shutdownTimeout` passed) the HTTP server stops, then the Redis connections.
public final class Edge: Service, Sendable {
    public let configuration: EdgeConfiguration
    public let counters = EdgeCounters()
    let logger: Logger
    let redis: RedisClient
    let subscriber: RedisSubscriber
    let registry: ConnectionRegistry
    let admission: AdmissionControl
    let openChannels = OpenChannels()
    /// The inbound stream's key, built once (every client frame is appended to it).
    let inboundStream: String
    /// WebSocket connections from upgrade to close, in total and per peer address (the limits).
    let slots: ConnectionSlots
    /// Refused upgrades on their way to the client as HTTP 401/403/503 with a reason.
    let upgradeRefusals = UpgradeRefusals()
    /// Users authenticated in `shouldUpgrade`, handed to the session that starts on the same channel.
    let pendingUsers = Mutex<[ObjectIdentifier: UserID]>([:])
    private let draining = Atomic<Bool>(false)
    /// Set once a heartbeat reached Redis: an edge others cannot see must not take clients, since
    /// nobody could clean up after it.
    let heartbeatRecorded = Atomic<Bool>(false)
    private let boundPort = Mutex<Int?>(nil)
    private let portBound = AsyncSignal()

    public init(configuration: EdgeConfiguration, logger: Logger) {
        self.configuration = configuration
        var edgeLogger = logger
        edgeLogger[metadataKey: "fanout.edge"] = "\(configuration.edgeID)"
        let logger = edgeLogger
        self.logger = logger
        var redisConfiguration = configuration.common.redis
        redisConfiguration.clientName = "fanout-edge-\(configuration.edgeID)"
        self.redis = RedisClient(configuration: redisConfiguration, logger: logger)
        redisConfiguration.clientName = "fanout-edge-subscriber-\(configuration.edgeID)"
        let registryBox = Mutex<ConnectionRegistry?>(nil)
        self.subscriber = RedisSubscriber(configuration: redisConfiguration, logger: logger) { event in
            switch event {
            case .message(let channel, let payload):
                registryBox.withLock { $0 }?.deliver(channel: channel, payload: payload)
            case .disconnected(let error):
                logger.warning("subscriber lost Redis; results published until it is back are missed", metadata: ["fanout.error": "\(error)"])
            case .restored(let channels):
                logger.info("subscriber restored its subscriptions", metadata: ["fanout.channels": "\(channels)"])
            }
        }
        self.registry = ConnectionRegistry(keySpace: configuration.common.keySpace, subscriber: subscriber, counters: counters, logger: logger)
        self.inboundStream = configuration.common.keySpace.inbound
        self.slots = ConnectionSlots(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
        self.admission = AdmissionControl(configuration: configuration, counters: counters, logger: logger)
        registryBox.withLock { $0 = self.registry }
    }

    var keySpace: KeySpace { configuration.common.keySpace }

    /// `true` while Redis is reachable, the subscriber is ready, and the edge is not draining.
    public var isReady: Bool {
        redis.isConnected && subscriber.isReady && heartbeatRecorded.load(ordering: .relaxed) && !draining.load(ordering: .relaxed)
    }

    /// `true` once graceful shutdown began.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Connections open on this edge right now.
    public var connectionCount: Int { registry.count }

    /// The most messages queued for any one client right now (bounded by `FANOUT_OUTBOX_MESSAGES`).
    public var largestOutbox: Int { registry.all.map(\.outbox.count).max() ?? 0 }

    /// The port the server listens on, once it does (useful with port 0); `nil` if cancelled first.
    public func listeningPort() async -> Int? {
        await portBound.wait { self.boundPort.withLock { $0 != nil } }
        return boundPort.withLock { $0 }
    }

    public func run() async throws {
        let authenticator = try await Authenticator.make(configuration)
        let app = makeApplication(authenticator: authenticator)
        // The HTTP server runs in a group of its own that our graceful shutdown does not reach
        // directly: we first close every WebSocket with 1001 after flushing it, then stop the server.
        let appGroup = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.redis.run() }
            group.addTask { try await self.subscriber.run() }
            group.addTask { await self.heartbeat() }
            group.addTask { await self.admission.run(redis: self.redis, keySpace: self.keySpace) }
            if configuration.agentPort > 0 {
                let agent = AgentCheckServer(host: configuration.host, port: configuration.agentPort, logger: logger) { self.agentState }
                group.addTask { try await agent.run() }
            }
            defer {
                redis.stop()
                subscriber.stop()
                group.cancelAll()
            }
            let drainRequested = AsyncStream<Void>.makeStream()
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Bool.self) { serving in
                    serving.addTask {
                        // Ending the stream also ends the drain task if the server stops on its own.
                        defer { drainRequested.continuation.finish() }
                        try await withoutGracefulShutdownPropagation { try await appGroup.run() }
                        return false
                    }
                    serving.addTask {
                        for await _ in drainRequested.stream {
                            await self.drain()
                            await appGroup.triggerGracefulShutdown()
                            // An HTTP connection that never sends a request keeps the server's
                            // graceful shutdown waiting; past the timeout, stop it hard.
                            try? await Task.sleep(for: self.configuration.shutdownTimeout)
                            return !Task.isCancelled
                        }
                        return false
                    }
                    if try await serving.next() == true {
                        let count = self.openChannels.closeAll()
                        self.logger.warning("HTTP server still waiting for connections after the shutdown timeout; stopping it",
                            metadata: ["fanout.count": "\(count)"])
                    }
                    serving.cancelAll()
                }
            } onGracefulShutdown: {
                self.draining.store(true, ordering: .relaxed)
                drainRequested.continuation.yield()
            }
            logger.info("edge stopped")
        }
    }

    /// What HAProxy's agent-check hears: `drain` while shutting down, `down` while not ready, else
    /// `up ready N%` with N falling from 100 to 1 as connections approach `maxConnections`.
    var agentState: String {
        if isDraining { return "drain" }
        if !isReady { return "down" }
        let used = Double(connectionCount) / Double(configuration.maxConnections)
        return "up ready \(max(1, Int((1 - used) * 100)))%"
    }

    /// Flushes every connection and closes it with 1001, waiting up to the shutdown timeout.
    private func drain() async {
        if configuration.drainDelay > .zero {
            // Readiness and the agent already say "drain": give load balancers time to notice.
            try? await Task.sleep(for: configuration.drainDelay)
        }
        let connections = registry.all
        logger.info("edge draining: closing connections with 1001 after flushing them", metadata: ["fanout.count": "\(connections.count)"])
        for connection in connections {
            connection.outbox.closeAfterQueued(code: CloseCode.goingAway, reason: "going away")
        }
        let timeout = configuration.shutdownTimeout
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.registry.waitUntilEmpty()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished { logger.warning("drain timed out; remaining connections are dropped", metadata: ["fanout.count": "\(registry.count)"]) }
        // A clean exit leaves no heartbeat behind for others to expire.
        _ = try? await redis.send(.zrem(keySpace.edges, [configuration.edgeID.rawValue]))
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
        boundPort.withLock { $0 = port }
        portBound.signal()
        logger.info("edge listening", metadata: ["fanout.url": "ws://\(configuration.host):\(port)/ws"])
    }
}

/// Runs `body` so that a graceful shutdown of the surrounding service group does not reach it:
/// its own (inner) service group is shut down explicitly instead.
///
/// A detached task is the one way to drop the inherited graceful-shutdown task-local. Cancelling
/// the caller cancels it too — and the caller stops waiting at once, because an HTTP server can
/// wait forever for a connection that never sent a request; the process is about to exit anyway.
func withoutGracefulShutdownPropagation(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let finished = CompletionFlag()
    let task = Task.detached {
        defer { finished.set() }
        try await body()
    }
    await withTaskCancellationHandler {
        await finished.signal.wait { finished.isSet }
    } onCancel: {
        task.cancel()
    }
    if finished.isSet { try await task.value }
}

/// A one-way flag with a signal, for waiting on a detached task without being bound to it.
private final class CompletionFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    let signal = AsyncSignal()
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() {
        flag.store(true, ordering: .releasing)
        signal.signal()
    }
}
