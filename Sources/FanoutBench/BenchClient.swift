import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The load generator's connections: one event-loop group of 1–2 threads, with one ``LoopStats``
/// per loop, opening WebSockets to a ``BenchTarget`` with a lean NIO client (no per-message task).
final class BenchClient: Sendable {
    let target: BenchTarget
    let group: MultiThreadedEventLoopGroup
    let loops: [any EventLoop]
    let stats: [LoopStats]
    /// Connections per source address before the next 127.0.0.x is used: the kernel's ephemeral
    /// port range (32768–60999 by default) allows ~28,000 connections per (source, destination) pair.
    let connectionsPerSourceAddress: Int

    init(target: BenchTarget, threads: Int, connectionsPerSourceAddress: Int = 25_000) {
        self.target = target
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let loops = Array(group.makeIterator())
        self.loops = loops
        self.stats = loops.map { LoopStats(eventLoop: $0) }
        self.connectionsPerSourceAddress = connectionsPerSourceAddress
    }

    func shutdown() async {
        try? await group.shutdownGracefully()
    }

    /// Connects and upgrades one WebSocket; connection `index` lives on loop `index % loops`.
    func connect(index: Int, receiver: any BenchReceiver, timeout: TimeAmount = .seconds(10)) async throws -> BenchConnection {
        let loop = loops[index % loops.count]
        let connection = BenchConnection(index: index, eventLoop: loop, stats: stats[index % loops.count], receiver: receiver)
        connection.startedAt = monotonicNanoseconds()
        let upgraded = loop.makePromise(of: Void.self)
        let target = self.target
        // No channel options of our own: NIO's ClientBootstrap sets TCP_NODELAY itself, and a
        // `.socketOption` (level SOL_SOCKET) may need privileges an unprivileged load generator lacks.
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 24, automaticErrorHandling: false) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(BenchFrameHandler(connection: connection))
                        }
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in upgraded.succeed() }))
                    try channel.pipeline.syncOperations.addHandler(UpgradeRequestHandler(target: target, upgraded: upgraded))
                }
            }
        let spread = index / connectionsPerSourceAddress
        if spread > 0 {
            // Past one address's ephemeral ports: connect from 127.0.0.2, 127.0.0.3, … (all loopback).
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: "127.0.0.\(1 + spread)", port: 0))
        }
        let timer = loop.scheduleTask(in: timeout) { upgraded.fail(BenchError("upgrade timed out after \(timeout)")) }
        defer { timer.cancel() }
        let channel = try await bootstrap.connect(host: target.host, port: target.port).get()
        do {
            try await upgraded.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        try await loop.submit {
            connection.channel = channel
            connection.open = channel.isActive
        }.get()
        return connection
    }

    /// Opens `count` connections with at most `concurrency` handshakes in flight. Failures are
    /// counted, not thrown; `prepare` finishes each connection's setup (conns: the confirmation
    /// echo) inside the same slot, and a connection it fails for is closed and counted as failed.
    func open(
        count: Int, concurrency: Int, receiver: any BenchReceiver, firstIndex: Int = 0,
        prepare: @escaping @Sendable (BenchConnection) async throws -> Void = { _ in }
    ) async -> (connections: [BenchConnection], failures: Int) {
        await withTaskGroup(of: BenchConnection?.self) { group in
            var connections: [BenchConnection] = []
            connections.reserveCapacity(count)
            var failures = 0
            var next = 0
            func collect(_ connection: BenchConnection?) {
                if let connection { connections.append(connection) } else { failures += 1 }
            }
            while next < count {
                if next >= concurrency, let finished = await group.next() { collect(finished) }
                let index = firstIndex + next
                group.addTask {
                    guard let connection = try? await self.connect(index: index, receiver: receiver) else { return nil }
                    do {
                        try await prepare(connection)
                        return connection
                    } catch {
                        await self.close([connection])
                        return nil
                    }
                }
                next += 1
            }
            for await finished in group { collect(finished) }
            return (connections.sorted { $0.index < $1.index }, failures)
        }
    }

    /// Runs `body` on every connection's loop and waits for all of them.
    func onEach(_ connections: [BenchConnection], _ body: @escaping @Sendable (BenchConnection) -> Void) async {
        let futures = connections.map { connection in connection.eventLoop.submit { body(connection) } }
        for future in futures { _ = try? await future.get() }
    }

    /// Closes every connection (normal close) and waits until the sockets are gone (bounded).
    func close(_ connections: [BenchConnection]) async {
        await onEach(connections) { $0.close() }
        let deadline = NIODeadline.now() + .seconds(5)
        for connection in connections {
            guard let channel = connection.channel else { continue }
            let remaining = deadline - NIODeadline.now()
            if remaining <= .zero { channel.close(promise: nil); continue }
            let timer = channel.eventLoop.scheduleTask(in: remaining) { channel.close(promise: nil) }
            try? await channel.closeFuture.get()
            timer.cancel()
        }
    }

    /// The merged counts of every loop.
    func snapshot() async throws -> LoopStats.Snapshot {
        var snapshots: [LoopStats.Snapshot] = []
        for stats in stats { snapshots.append(try await stats.snapshot().get()) }
        return LoopStats.Snapshot.merged(snapshots)
    }

    /// Waits until `condition` holds for the merged counts, polling every 10 ms, at most `timeout`.
    func waitFor(timeout: Duration, _ condition: (LoopStats.Snapshot) -> Bool) async throws -> LoopStats.Snapshot {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = try await snapshot()
            if condition(snapshot) || ContinuousClock.now >= deadline { return snapshot }
            // Bounded polling: the counts live on the loops, and this is the cheapest way to observe them.
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
