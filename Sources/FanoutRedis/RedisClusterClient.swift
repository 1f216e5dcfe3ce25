import Logging
import Metrics
import NIOCore
import Synchronization

/// The command side of `RedisClient` for a `redis-cluster://` configuration: one pipelined
/// `RedisConnection` per master, every command sent to the master that owns its key's hash slot.
///
/// Threading: like `RedisClient`, every connection lives on one event loop; the routing table is
/// an immutable `Routing` swapped whole under a lock (async callers) and mirrored to a loop-local
/// box (code on the loop — the edge's hot path — reads it without a lock).
///
/// Topology (decision 0040): `run()` learns the slot map (`CLUSTER SLOTS` from a known master or a
/// seed), connects to every master, and then waits until something says the map is stale: a
/// connection closed (a master died, or answered `READONLY` after a failover), or a reply was
/// `MOVED`/`ASK`/`CLUSTERDOWN`. Then it asks again and reconnects what changed. While a master
/// cannot be reached its slots have no connection, and a command for them fails at once with
/// `.notConnected` — the other shards keep working; nothing waits in a hidden queue.
///
/// Redirections: a `MOVED` reply is followed (the command is sent again to the named master, and
/// the map refreshed); an `ASK` reply is followed once, with `ASKING` before the command on the
/// importing node. At most `maxRedirects` hops; then the error reply is the answer.
///
/// Pub/sub: in a cluster every channel is a shard channel. `PUBLISH` is sent as `SPUBLISH` to the
/// master of the channel's slot (`RedisSubscriber` subscribes with `SSUBSCRIBE` there), so a
/// message travels through one shard instead of the whole cluster bus.
final class RedisClusterClient: Sendable {
    /// A slot map and the connection to each of its masters (`nil` while one cannot be reached).
    final class Routing: Sendable {
        let map: ClusterSlotMap
        let connections: [RedisConnection?]

        init(map: ClusterSlotMap, connections: [RedisConnection?]) {
            self.map = map
            self.connections = connections
        }

        /// The connection to the master of `slot`, if it is up.
        func connection(for slot: HashSlot) -> RedisConnection? {
            guard let master = map.master(for: slot), let connection = connections[master], connection.isActive else { return nil }
            return connection
        }

        /// The connection to the master at `address`, if it is one and up.
        func connection(at address: RedisAddress) -> RedisConnection? {
            guard let master = map.masters.firstIndex(of: address), let connection = connections[master], connection.isActive else { return nil }
            return connection
        }

        /// Any live master connection, for commands without a key.
        var anyConnection: RedisConnection? { connections.first { $0?.isActive == true } ?? nil }

        /// Every slot has a master with a live connection.
        var isComplete: Bool { map.coversAllSlots && connections.allSatisfy { $0?.isActive == true } }
    }

    private struct State {
        var routing: Routing?
        var lastError: RedisError?
        var stopped = false
        var reconnects = 0
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter = 0
    }

    /// Redirections followed for one command before its error reply is the answer.
    static let maxRedirects = 3
    /// Refreshes of the map are at least this far apart (a burst of `MOVED` replies asks for one).
    static let minimumRefreshInterval = Duration.milliseconds(50)

    let configuration: RedisConfiguration
    let eventLoop: any EventLoop
    private let logger: Logger
    private let onEvent: @Sendable (RedisConnectionEvent) -> Void
    private let state = Mutex(State())
    private let loopRouting: NIOLoopBoundBox<Routing?>
    private let refresh = RefreshSignal()

    init(configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger, onEvent: @escaping @Sendable (RedisConnectionEvent) -> Void) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.onEvent = onEvent
        self.loopRouting = NIOLoopBoundBox.makeEmptyBox(valueType: Routing.self, eventLoop: eventLoop)
    }

    // MARK: state

    var isConnected: Bool { state.withLock { $0.routing?.isComplete ?? false } }

    var reconnectCount: Int { state.withLock { $0.reconnects } }

    /// The connection for `slot`, for code on `eventLoop` (the edge's appends): lock-free.
    func connectionOnLoop(for slot: HashSlot) -> RedisConnection? {
        guard let connection = loopRouting.value?.connection(for: slot), connection.isUsable else { return nil }
        return connection
    }

    /// Asks the run loop to learn the slot map again (soon, not at once: see `minimumRefreshInterval`).
    func requestRefresh() {
        refresh.request()
    }

    // MARK: topology

    /// Keeps the map and the master connections current until `stop()` or cancellation.
    func run() async {
        var attempt = 0
        var wasComplete = false
        var everComplete = false
        var lastRefresh = ContinuousClock.now - Self.minimumRefreshInterval
        await withTaskCancellationHandler {
            while !self.state.withLock({ $0.stopped }) {
                let sinceLast = ContinuousClock.now - lastRefresh
                if sinceLast < Self.minimumRefreshInterval { try? await Task.sleep(for: Self.minimumRefreshInterval - sinceLast) }
                lastRefresh = ContinuousClock.now
                self.refresh.beginRefresh()
                let old = self.state.withLock { $0.routing }
                let routing: Routing
                do throws(RedisError) {
                    let candidates = (old?.map.masters ?? []) + (self.configuration.cluster?.seeds ?? [])
                    let map = try await ClusterSlotMap.fetch(
                        from: candidates, configuration: self.configuration, eventLoop: self.eventLoop, logger: self.logger)
                    routing = await self.connect(map, reusing: old)
                } catch {
                    self.state.withLock { $0.lastError = error }
                    if attempt == 0 {
                        self.logger.warning("redis cluster unavailable; retrying with backoff", metadata: [
                            "redis.url": "\(self.configuration.redactedURL)", "redis.error": "\(error)",
                        ])
                    }
                    if wasComplete { self.lost(RedisError(error.code, "cluster slot map unavailable: \(error.message)")) }
                    wasComplete = false
                    await self.refresh.wait(timeout: self.configuration.reconnectBackoff.delay(attempt: attempt))
                    attempt += 1
                    continue
                }
                self.install(routing)
                let complete = routing.isComplete
                if complete {
                    attempt = 0
                    if !wasComplete {
                        if everComplete { self.logger.info("redis cluster: every slot served again", metadata: ["redis.masters": "\(routing.map.masters.count)"]) }
                        self.onEvent(.connected(reconnect: everComplete))
                        everComplete = true
                    }
                } else {
                    let missing = zip(routing.map.masters, routing.connections).filter { $0.1?.isActive != true }.map { "\($0.0)" }
                    if wasComplete || attempt == 0 {
                        self.logger.warning("redis cluster: some slots have no reachable master; their commands are refused until they do", metadata: [
                            "redis.unreachable": "\(missing.joined(separator: ","))", "redis.covered": "\(routing.map.coversAllSlots)",
                        ])
                    }
                    if wasComplete { self.lost(RedisError(.connectionClosed, "no connection to \(missing.joined(separator: ","))")) }
                }
                wasComplete = complete
                if complete {
                    await self.refresh.wait(timeout: nil)
                } else {
                    await self.refresh.wait(timeout: self.configuration.reconnectBackoff.delay(attempt: attempt))
                    attempt += 1
                }
            }
        } onCancel: {
            self.stop()
        }
        stop()
    }

    /// A connection to every master of `map`, reusing the live ones of `old`; masters that cannot
    /// be reached get `nil`. Connections to nodes that are no longer masters are closed.
    private func connect(_ map: ClusterSlotMap, reusing old: Routing?) async -> Routing {
        var connections: [RedisConnection?] = []
        for address in map.masters {
            if let existing = old?.connection(at: address) {
                connections.append(existing)
                continue
            }
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration.direct(to: address), eventLoop: eventLoop, logger: logger)
                connection.observeRedirects { [weak self] in self?.requestRefresh() }
                connection.closeFuture.whenComplete { [weak self] _ in self?.requestRefresh() }
                connections.append(connection)
            } catch {
                state.withLock { $0.lastError = error }
                connections.append(nil)
            }
        }
        if let old {
            for (address, connection) in zip(old.map.masters, old.connections) where !map.masters.contains(address) {
                connection?.close()
            }
        }
        return Routing(map: map, connections: connections)
    }

    private func install(_ routing: Routing) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.routing = routing
            guard routing.isComplete else { return [] }
            state.lastError = nil
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        eventLoop.execute { self.loopRouting.value = routing }
        for waiter in waiters { waiter.resume() }
    }

    private func lost(_ error: RedisError) {
        state.withLock { $0.reconnects += 1 }
        RedisMetrics.reconnects.increment()
        onEvent(.disconnected(error))
    }

    /// Waits until every slot has a live master connection, up to `timeout`.
    func waitUntilConnected(timeout: Duration) async throws {
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
                            if state.routing?.isComplete == true { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                let reason = self.state.withLock { $0.lastError.map { "\($0)" } ?? "no slot map yet" }
                throw RedisError(.timedOut, "not connected to every master of \(self.configuration.redactedURL) within \(timeout): \(reason)")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Closes every connection and ends `run()`.
    func stop() {
        let routing = state.withLock { state -> Routing? in
            state.stopped = true
            defer { state.routing = nil }
            return state.routing
        }
        refresh.stop()
        for connection in routing?.connections ?? [] { connection?.close() }
    }

    // MARK: commands

    /// The command as a cluster needs it (a `PUBLISH` becomes `SPUBLISH`) and the slot it goes to.
    private func prepare(_ command: RedisCommand) -> (command: RedisCommand, slot: HashSlot?) {
        let command = command.name == "PUBLISH" ? command.renamed("SPUBLISH") : command
        return (command, command.hashSlot)
    }

    private func routing(for commandName: String) throws(RedisError) -> Routing {
        let (routing, lastError, stopped) = state.withLock { ($0.routing, $0.lastError, $0.stopped) }
        if stopped { throw RedisError(.shutdown, "the Redis client was shut down", command: commandName) }
        guard let routing else {
            throw RedisError(.notConnected, lastError.map { "not connected: \($0.message)" } ?? "not connected yet", command: commandName)
        }
        return routing
    }

    private func connection(in routing: Routing, for slot: HashSlot?, command: String) throws(RedisError) -> RedisConnection {
        if let slot {
            guard let connection = routing.connection(for: slot) else {
                let master = routing.map.address(for: slot).map { "its master \($0) is unreachable (a failover under way?)" } ?? "no master serves it"
                throw RedisError(.notConnected, "slot \(slot) is unavailable: \(master)", command: command)
            }
            return connection
        }
        guard let connection = routing.anyConnection else { throw RedisError(.notConnected, "no cluster master is reachable", command: command) }
        return connection
    }

    /// Sends one command to its slot's master; the future completes with the reply (error replies as values).
    func sendFuture(_ command: RedisCommand) -> EventLoopFuture<RedisValue> {
        let (command, slot) = prepare(command)
        do {
            let routing = try routing(for: command.name)
            let connection = try connection(in: routing, for: slot, command: command.name)
            return follow(connection.sendFuture(command), command)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    /// Sends commands, each to its slot's master (one pipelined write per master), and returns every
    /// reply in the order of `commands`.
    ///
    /// A command whose slot has no reachable master (a shard failing over) is not sent: its reply
    /// is the error `CLUSTERDOWN …`, as Redis itself answers for a slot nobody serves, so the
    /// commands for the other shards go on (a worker's batch keeps only the affected entries
    /// pending). A connection failing mid-flight fails the whole call, as with one connection.
    func pipelineFuture(_ commands: [RedisCommand]) -> EventLoopFuture<[RedisValue]> {
        guard !commands.isEmpty else { return eventLoop.makeSucceededFuture([]) }
        let prepared = Self.keepingTransactionsTogether(commands.map(prepare))
        let routing: Routing
        do {
            routing = try self.routing(for: prepared[0].command.name)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        var replies = [RedisValue](repeating: .null, count: prepared.count)
        var byConnection: [(connection: RedisConnection, indexes: [Int])] = []
        for (index, entry) in prepared.enumerated() {
            let connection: RedisConnection
            do {
                connection = try self.connection(in: routing, for: entry.slot, command: entry.command.name)
            } catch {
                replies[index] = .error("CLUSTERDOWN \(error.message)")
                continue
            }
            if let group = byConnection.firstIndex(where: { $0.connection === connection }) {
                byConnection[group].indexes.append(index)
            } else {
                byConnection.append((connection, [index]))
            }
        }
        let loop = eventLoop
        let unroutable = replies
        let sent = byConnection.map { group in
            group.connection.pipelineFuture(group.indexes.map { prepared[$0].command }).map { (group.indexes, $0) }
        }
        return EventLoopFuture.whenAllSucceed(sent, on: loop).flatMap { groups -> EventLoopFuture<[RedisValue]> in
            var replies = unroutable
            for (indexes, values) in groups {
                for (index, value) in zip(indexes, values) { replies[index] = value }
            }
            // Redirected commands are sent again one by one; the rest keep their replies.
            // (Not inside a MULTI block: there a redirect aborts the EXEC, and the command alone
            // must not run outside its transaction.)
            let redirected = replies.indices.filter { Self.redirect(in: replies[$0]) != nil && !Self.isInTransaction($0, prepared) }
            guard !redirected.isEmpty else { return loop.makeSucceededFuture(replies) }
            let followed = redirected.map { index in
                self.follow(loop.makeSucceededFuture(replies[index]), prepared[index].command).map { (index, $0) }
            }
            let answered = replies
            return EventLoopFuture.whenAllSucceed(followed, on: loop).map { results in
                var replies = answered
                for (index, value) in results { replies[index] = value }
                return replies
            }
        }
    }

    /// Gives every command of a `MULTI` … `EXEC` block the slot of the block's first keyed command,
    /// so the block goes to one master in one piece (its keys share a slot by hash tags; Redis
    /// answers `CROSSSLOT` otherwise). `MULTI` and `EXEC` alone have no key.
    static func keepingTransactionsTogether(_ prepared: [(command: RedisCommand, slot: HashSlot?)]) -> [(command: RedisCommand, slot: HashSlot?)] {
        guard prepared.contains(where: { $0.command.name == "MULTI" }) else { return prepared }
        var result = prepared
        var index = 0
        while index < result.count {
            guard result[index].command.name == "MULTI" else {
                index += 1
                continue
            }
            var end = index + 1
            while end < result.count, result[end].command.name != "EXEC", result[end].command.name != "DISCARD" { end += 1 }
            let last = min(end, result.count - 1)
            let slot = result[index...last].lazy.compactMap(\.slot).first
            for member in index...last { result[member].slot = slot }
            index = last + 1
        }
        return result
    }

    /// Whether command `index` is `MULTI`, `EXEC` or between them.
    static func isInTransaction(_ index: Int, _ prepared: [(command: RedisCommand, slot: HashSlot?)]) -> Bool {
        for earlier in stride(from: index, through: 0, by: -1) {
            switch prepared[earlier].command.name {
            case "MULTI": return true
            case "EXEC", "DISCARD": return earlier == index
            default: continue
            }
        }
        return false
    }

    /// Follows a `MOVED` or `ASK` reply to `command` to the node it names, up to `maxRedirects` hops.
    private func follow(_ reply: EventLoopFuture<RedisValue>, _ command: RedisCommand, hops: Int = 0) -> EventLoopFuture<RedisValue> {
        reply.flatMap { value -> EventLoopFuture<RedisValue> in
            guard hops < Self.maxRedirects, let (ask, address) = Self.redirect(in: value) else { return self.eventLoop.makeSucceededFuture(value) }
            if !ask { self.requestRefresh() }
            // The target is normally a master we already know (a reshard moves slots between
            // masters); a node we have no connection to yet is learned by the refresh, and until
            // then the redirect is the answer.
            guard let target = self.state.withLock({ $0.routing })?.connection(at: address) else {
                self.requestRefresh()
                return self.eventLoop.makeSucceededFuture(value)
            }
            if ask {
                return self.follow(target.pipelineFuture([.asking, command]).map { $0.last ?? .null }, command, hops: hops + 1)
            }
            return self.follow(target.sendFuture(command), command, hops: hops + 1)
        }
    }

    /// `(ask, address)` for a `-MOVED slot host:port` or `-ASK slot host:port` reply.
    static func redirect(in value: RedisValue) -> (ask: Bool, address: RedisAddress)? {
        guard case .error(let message) = value, message.hasPrefix("MOVED ") || message.hasPrefix("ASK ") else { return nil }
        let parts = message.split(separator: " ")
        guard parts.count == 3, let address = RedisAddress(redirect: parts[2]) else { return nil }
        return (parts[0] == "ASK", address)
    }
}
