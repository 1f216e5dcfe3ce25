import Logging
import NIOCore
import Synchronization

/// The subscriber side of a Redis Cluster for `RedisSubscriber`: sharded pub/sub (Redis 7.0), one
/// subscriber connection per master, each channel subscribed with `SSUBSCRIBE` on the master that
/// owns its slot — so a message travels through that one shard, never the whole cluster bus.
///
/// Each master's connection is a `RedisSubscriber` of its own in sharded mode (reconnect with
/// backoff, restore before ready), all on this subscriber's event loop. On top, this type keeps
/// which channel is where (`ClusterSubscriberCore`) and moves channels when their slot moves:
/// - a reshard: the old master pushes `sunsubscribe` for every channel of the slot it gave away;
/// - a failover: the old master's connection is lost, and the refreshed map names the new master;
/// - a `MOVED` answer to a subscription restored or adopted on the wrong master.
/// Each of these asks for a fresh slot map; then every channel whose slot's master changed is
/// adopted by the new master's subscriber. Messages published to a channel between its loss and its
/// adoption are missed, as after any subscriber reconnect: the owner is told `.disconnected` and
/// `.restored` (results for a connection are retried, decision 0012).
final class RedisClusterSubscriber: Sendable {
    private let configuration: RedisConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let core: NIOLoopBoundBox<ClusterSubscriberCore>
    private let refresh = RefreshSignal()
    /// The masters' subscribers and whether the map covers every slot, for `isReady` off the loop.
    private let readiness = Mutex<(complete: Bool, nodes: [RedisSubscriber])>((false, []))

    init(configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger, onEvent: @escaping @Sendable (RedisSubscriberEvent) -> Void) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        let refresh = self.refresh
        self.core = NIOLoopBoundBox.makeBoxSendingValue(
            ClusterSubscriberCore(onEvent: onEvent, requestRefresh: { refresh.request() }), eventLoop: eventLoop)
    }

    /// Every slot has a master, and each master's subscriber is connected with its channels restored.
    var isReady: Bool {
        readiness.withLock { $0.complete && !$0.nodes.isEmpty && $0.nodes.allSatisfy(\.isReady) }
    }

    /// Subscribes or unsubscribes `channels`, each on its slot's master; the future completes once
    /// every master involved confirmed.
    func request(_ kind: RedisSubscriberCore.Kind, _ channels: [String]) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        if eventLoop.inEventLoop {
            core.value.request(kind, channels, promise)
        } else {
            eventLoop.execute { self.core.value.request(kind, channels, promise) }
        }
        return promise.futureResult
    }

    /// Completes once every master's subscriber delivered what it received before now
    /// (`RedisSubscriber.barrier()` on each); fails while one is disconnected.
    func barrier() -> EventLoopFuture<Void> {
        let nodes = readiness.withLock { $0.nodes }
        guard !nodes.isEmpty else {
            return eventLoop.makeFailedFuture(RedisError(.notConnected, "cluster subscriber has no master yet", command: "PING"))
        }
        return EventLoopFuture.andAllSucceed(nodes.map { $0.barrier() }, on: eventLoop)
    }

    /// The channels wanted, wherever they are subscribed now.
    func activeChannels() async -> Set<String> {
        (try? await eventLoop.submit { self.core.value.wantedChannels }.get()) ?? []
    }

    /// Keeps one subscriber per master until `stop()` or cancellation, following the slot map.
    func run() async {
        await withDiscardingTaskGroup { group in
            var nodes: [RedisAddress: RedisSubscriber] = [:]
            var attempt = 0
            var unsettled = 0
            var lastRefresh = ContinuousClock.now - RedisClusterClient.minimumRefreshInterval
            while !refresh.isStopped && !Task.isCancelled {
                let sinceLast = ContinuousClock.now - lastRefresh
                if sinceLast < RedisClusterClient.minimumRefreshInterval {
                    try? await Task.sleep(for: RedisClusterClient.minimumRefreshInterval - sinceLast)
                }
                lastRefresh = ContinuousClock.now
                refresh.beginRefresh()
                let map: ClusterSlotMap
                do throws(RedisError) {
                    map = try await ClusterSlotMap.fetch(
                        from: Array(nodes.keys) + (configuration.cluster?.seeds ?? []), configuration: configuration,
                        eventLoop: eventLoop, logger: logger)
                } catch {
                    if attempt == 0 {
                        logger.warning("redis cluster subscriber cannot learn the slot map; retrying with backoff", metadata: [
                            "redis.url": "\(configuration.redactedURL)", "redis.error": "\(error)",
                        ])
                    }
                    await refresh.wait(timeout: configuration.reconnectBackoff.delay(attempt: attempt))
                    attempt += 1
                    continue
                }
                attempt = 0
                for address in map.masters where nodes[address] == nil {
                    let node = makeNode(address)
                    nodes[address] = node
                    group.addTask { try? await node.run() }
                }
                let current = nodes
                let retired = (try? await eventLoop.submit { self.core.value.apply(map, nodes: current) }.get()) ?? []
                for address in retired { nodes.removeValue(forKey: address)?.stop() }
                let masters = map.masters.compactMap { nodes[$0] }
                readiness.withLock { $0 = (map.coversAllSlots, masters) }
                // Without full coverage, or with a master's subscriber not connected (a master just
                // killed is still listed until its replica is promoted, and its subscriber's failed
                // reconnects say nothing new), look again soon; otherwise when told.
                if map.coversAllSlots && masters.allSatisfy(\.isReady) {
                    unsettled = 0
                    await refresh.wait(timeout: nil)
                } else {
                    await refresh.wait(timeout: configuration.reconnectBackoff.delay(attempt: min(unsettled, 3)))
                    unsettled += 1
                }
            }
            for node in nodes.values { node.stop() }
            readiness.withLock { $0 = (false, []) }
        }
    }

    func stop() {
        refresh.stop()
        for node in readiness.withLock({ $0.nodes }) { node.stop() }
    }

    /// A sharded subscriber for one master, reporting to the core.
    private func makeNode(_ address: RedisAddress) -> RedisSubscriber {
        var node = configuration.direct(to: address)
        node.clientName = configuration.clientName.map { "\($0)-\(address.port)" }
        let core = self.core
        return RedisSubscriber(
            configuration: node, eventLoop: eventLoop, logger: logger, sharded: true,
            onMoved: { channel in core.value.moved(channel, from: address) },
            onEvent: { event in core.value.nodeEvent(event, from: address) })
    }
}

/// Where each wanted channel is subscribed, and the moves when the map changes. Confined to the
/// subscriber's event loop.
final class ClusterSubscriberCore {
    private let onEvent: @Sendable (RedisSubscriberEvent) -> Void
    private let requestRefresh: @Sendable () -> Void
    private var map: ClusterSlotMap?
    private var nodes: [RedisAddress: RedisSubscriber] = [:]
    /// Channels subscribed (or being subscribed) and the master they are on.
    private var placed: [String: RedisAddress] = [:]
    /// Channels whose slot moved away, waiting for the next map to be placed again.
    private var orphans: Set<String> = []

    init(onEvent: @escaping @Sendable (RedisSubscriberEvent) -> Void, requestRefresh: @escaping @Sendable () -> Void) {
        self.onEvent = onEvent
        self.requestRefresh = requestRefresh
    }

    var wantedChannels: Set<String> { Set(placed.keys).union(orphans) }

    func request(_ kind: RedisSubscriberCore.Kind, _ channels: [String], _ promise: EventLoopPromise<Void>) {
        let eventLoop = promise.futureResult.eventLoop
        var requests: [EventLoopFuture<Void>] = []
        switch kind {
        case .subscribe:
            // One SSUBSCRIBE per slot: a command naming channels of several slots is refused.
            for (slot, group) in Dictionary(grouping: channels, by: { HashSlot(key: $0) }) {
                guard let address = map?.address(for: slot), let node = nodes[address] else {
                    promise.fail(RedisError(.notConnected, "slot \(slot) has no master right now (a failover under way?)", command: "SSUBSCRIBE"))
                    return
                }
                for channel in group {
                    placed[channel] = address
                    orphans.remove(channel)
                }
                let requestRefresh = self.requestRefresh
                requests.append(node.requestSubscribe(group).flatMapErrorThrowing { error in
                    if let error = error as? RedisError, RedisError.meansSlotMoved(error.message) { requestRefresh() }
                    throw error
                })
            }
        case .unsubscribe:
            var byNode: [RedisAddress: [String]] = [:]
            for channel in channels {
                orphans.remove(channel)
                if let address = placed.removeValue(forKey: channel) { byNode[address, default: []].append(channel) }
            }
            for (address, group) in byNode {
                guard let node = nodes[address] else { continue }
                for (_, slotGroup) in Dictionary(grouping: group, by: { HashSlot(key: $0) }) {
                    requests.append(node.requestUnsubscribe(slotGroup))
                }
            }
        }
        EventLoopFuture.andAllSucceed(requests, on: eventLoop).cascade(to: promise)
    }

    /// A new slot map: moves every channel whose slot's master changed (or that was orphaned) to
    /// its master's subscriber. Returns the nodes that are no longer masters and hold nothing.
    func apply(_ map: ClusterSlotMap, nodes: [RedisAddress: RedisSubscriber]) -> [RedisAddress] {
        self.map = map
        self.nodes = nodes
        var moves: [RedisAddress: [String]] = [:]
        for (channel, address) in placed {
            guard let owner = map.address(for: HashSlot(key: channel)), owner != address else { continue }
            // Forget it where it was: a dead master's subscriber drops it without a round trip.
            _ = nodes[address]?.requestUnsubscribe([channel])
            moves[owner, default: []].append(channel)
        }
        for channel in orphans {
            if let owner = map.address(for: HashSlot(key: channel)) { moves[owner, default: []].append(channel) }
        }
        for (owner, channels) in moves {
            guard let node = nodes[owner] else { continue }
            for channel in channels {
                placed[channel] = owner
                orphans.remove(channel)
            }
            node.adopt(channels)
        }
        let used = Set(placed.values)
        return nodes.keys.filter { !map.masters.contains($0) && !used.contains($0) }
    }

    /// The master at `address` dropped `channel` (its slot moved): place it again after a refresh.
    func moved(_ channel: String, from address: RedisAddress) {
        guard placed[channel] == address else { return }
        placed[channel] = nil
        orphans.insert(channel)
        requestRefresh()
    }

    func nodeEvent(_ event: RedisSubscriberEvent, from address: RedisAddress) {
        switch event {
        case .message, .endOfBatch:
            onEvent(event)
        case .disconnected:
            // A master lost: maybe dead (a failover will move its slots), maybe restarting.
            requestRefresh()
            onEvent(event)
        case .restored:
            onEvent(.restored(channels: placed.count))
        }
    }
}
