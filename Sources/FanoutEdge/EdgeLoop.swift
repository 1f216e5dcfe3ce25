import FanoutCore
import FanoutRedis
import Logging
import NIOCore
import NIOWebSocket

/// Everything an edge keeps for the connections of one event loop: their routes (channel → the
/// connection, or → the local members of a room or user), a Redis command connection and a
/// subscriber connection of its own, and the flush of each tick.
///
/// Confined to its event loop, like a channel handler: connections call it synchronously, the
/// subscriber delivers to it synchronously, and nothing here takes a lock. A loop of its own per
/// Redis connection means a client frame reaches Redis, and a result reaches its client, without
/// ever crossing threads; a room broadcast arrives once per loop and is encoded once per loop
/// (decision 0004).
final class EdgeLoop {
    /// Where a subscriber message for one channel goes.
    private enum Route {
        case connection(WebSocketConnection)
        case shared(SharedChannel)
    }

    let eventLoop: any EventLoop
    let edge: EdgeContext
    let redis: RedisClient
    let subscriber: RedisSubscriber
    /// Reads room and user history on `redis` when a channel must fill a gap (`SharedChannel`).
    let history: HistoryReader
    private var routes: [ByteBuffer: Route] = [:]
    /// Connections that were written to since the last flush.
    private var dirty: [WebSocketConnection] = []
    private var flushScheduled = false
    /// Set while the subscriber delivers one read's messages: their writes are flushed at its end.
    private var inSubscriberBatch = false
    /// Traffic counted on this loop, published to `EdgeCounters` at most once per flush.
    private var traffic = TrafficTally()
    private var timers: [RepeatedTask] = []
    private(set) var connectionCount = 0
    let allocator = ByteBufferAllocator()
    /// Whether per-message trace events are logged: checked once here, not per message.
    let traces: Bool
    /// One append in this many is timed for `fanout_edge_xadd_duration_seconds`.
    static let appendSampling = 16
    private var untilAppendSample = 0

    init(eventLoop: any EventLoop, edge: EdgeContext, redis: RedisClient, subscriber: RedisSubscriber) {
        self.eventLoop = eventLoop
        self.edge = edge
        self.redis = redis
        self.subscriber = subscriber
        self.history = HistoryReader(redis: redis)
        self.traces = edge.logger.logLevel <= .trace
    }

    /// `true` for one append in `appendSampling`.
    func samplesAppend() -> Bool {
        if untilAppendSample > 0 {
            untilAppendSample -= 1
            return false
        }
        untilAppendSample = Self.appendSampling - 1
        return true
    }

    /// Starts the loop's timers: the ping sweep and the publication of traffic counters.
    func start() {
        let loop = NIOLoopBound(self, eventLoop: eventLoop)
        // Each connection pings on its own schedule (one interval after it opened, then every
        // interval); the sweep that checks them runs four times per interval.
        let sweep = TimeAmount.nanoseconds(max(10_000_000, TimeAmount(edge.configuration.pingInterval).nanoseconds / 4))
        timers.append(eventLoop.scheduleRepeatedTask(initialDelay: sweep, delay: sweep) { _ in loop.value.sweepPings() })
        timers.append(eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in loop.value.publishTraffic() })
    }

    func stop() {
        for timer in timers { timer.cancel() }
        timers = []
        publishTraffic()
    }

    // MARK: connections

    func register(_ connection: WebSocketConnection) {
        routes[connection.channelKey] = .connection(connection)
        connectionCount += 1
        edge.connectionOpened()
    }

    /// Undoes everything a connection set up on this edge and in Redis: its routes and
    /// subscriptions, its presence in rooms, its entry in the edge's connection set, and (when its
    /// `open` was appended) appends its `close`. Called once, when its channel becomes inactive.
    func connectionEnded(_ connection: WebSocketConnection, opened: Bool) {
        if case .connection(let registered)? = routes[connection.channelKey], registered === connection {
            routes[connection.channelKey] = nil
        }
        connectionCount -= 1
        edge.connectionClosed()
        _ = subscriber.requestUnsubscribe([connection.channelName])
        for channel in connection.sharedChannels { removeMember(connection.id, from: channel) }
        // In a cluster the cleanup's keys live on several masters: the client routes each command;
        // the close entry goes to the connection's stream on the connection its appends used.
        guard redis.connectionOnLoop(for: connection.inbound.slot) != nil else {
            edge.logger.warning("Redis unavailable while a connection closed; presence cleanup is left to the dead-edge sweep",
                metadata: ["fanout.conn": "\(connection.id)"])
            return
        }
        let keySpace = edge.keySpace
        let id = connection.id
        let redis = self.redis
        var finalCommands: [RedisCommand] = [.srem(keySpace.edgeConnections(edge.configuration.edgeID), [id.rawValue])]
        if opened {
            let entry = InboundEntry(
                kind: .close, connection: id, edge: edge.configuration.edgeID, receivedAt: WallClock.microseconds(), user: connection.user)
            finalCommands.append(entry.xadd(to: connection.inbound.name, maxLength: edge.configuration.maxStreamLength))
        }
        let logger = edge.logger
        let closing = finalCommands
        // Presence lives in Redis, written by workers: read the connection's rooms, then remove it
        // from each, then record the close — in that order, so a handler seeing `close` finds the
        // connection gone from every room.
        redis.sendFuture(.smembers(keySpace.connectionRooms(id))).flatMap { reply -> EventLoopFuture<[RedisValue]> in
            redis.pipelineFuture(PresenceCleanup.commands(for: id, roomsReply: reply, keySpace: keySpace) + closing)
        }.whenComplete { result in
            switch result {
            case .success(let replies):
                if case .error(let message)? = replies.last {
                    logger.warning("could not append the close entry", metadata: ["fanout.conn": "\(id)", "fanout.error": "\(message)"])
                }
            case .failure(let error):
                logger.warning("connection cleanup failed; the dead-edge sweep will retry it",
                    metadata: ["fanout.conn": "\(id)", "fanout.error": "\(error)"])
            }
        }
    }

    // MARK: rooms and users

    /// Adds `connection` to the local members of `channel`, subscribing when it is the first; the
    /// future completes once Redis confirmed the subscription.
    ///
    /// With a position (`start`, history on), the member receives every message after it, in
    /// order: it is brought into step with the loop once the subscription is confirmed, before
    /// the returned future completes (`SharedChannel.admit`).
    func addMember(_ connection: WebSocketConnection, to channel: String, from start: StreamPosition? = nil) -> EventLoopFuture<Void> {
        let key = ByteBuffer(string: channel)
        let shared: SharedChannel
        if case .shared(let existing)? = routes[key] {
            shared = existing
        } else {
            let subscribed = subscriber.requestSubscribe([channel])
            shared = SharedChannel(name: channel, keys: edge.keySpace.historyKeys(ofChannel: channel), subscribed: subscribed, loop: self)
            routes[key] = .shared(shared)
            let id = connection.id
            subscribed.assumeIsolated().whenFailure { _ in
                // Undo, so that a later join subscribes again instead of waiting on a failed future.
                self.removeMember(id, from: channel)
            }
        }
        guard let start else {
            shared.add(connection)
            return shared.subscribed
        }
        shared.reserve(connection, from: start)
        let id = connection.id
        return shared.subscribed.assumeIsolated().map { shared.admit(id) }.nonisolated()
    }

    /// Removes a member, unsubscribing when it was the last one on this loop. Subscribe and
    /// unsubscribe requests reach Redis in the order of these calls, so a leave racing a join can
    /// never leave the channel unsubscribed.
    func removeMember(_ id: ConnectionID, from channel: String) {
        let key = ByteBuffer(string: channel)
        guard case .shared(let existing)? = routes[key] else { return }
        existing.remove(id)
        if existing.isEmpty {
            routes[key] = nil
            existing.close()
            _ = subscriber.requestUnsubscribe([channel])
        }
    }

    // MARK: delivery

    func handle(_ event: RedisSubscriberEvent) {
        switch event {
        case .message(let channel, let payload):
            inSubscriberBatch = true
            deliver(channel: channel, payload: payload)
        case .endOfBatch:
            inSubscriberBatch = false
            flush()
        case .disconnected(let error):
            edge.logger.warning("subscriber lost Redis; connection results published until it is back are missed (room and user messages are read from history)", metadata: ["fanout.error": "\(error)"])
        case .restored(let channels):
            edge.logger.info("subscriber restored its subscriptions", metadata: ["fanout.channels": "\(channels)"])
            // Room and user messages published while it was away are read from history.
            for case .shared(let shared) in routes.values { shared.resync() }
        }
    }

    /// Routes one pub/sub message: decoded once, and for a room encoded once for all its members.
    private func deliver(channel: ByteBuffer, payload: ByteBuffer) {
        guard let route = routes[channel] else { return }  // closed or left while this was in flight
        let envelope: OutboundEnvelope
        do {
            envelope = try OutboundEnvelope(decoding: payload)
        } catch {
            edge.counters.badEnvelope()
            edge.logger.warning("dropped a message that is not a Fanout envelope", metadata: [
                "fanout.channel": "\(String(buffer: channel))", "fanout.reason": "\(error.reason)",
            ])
            return
        }
        switch route {
        case .connection(let connection):
            connection.deliver(envelope)
        case .shared(let shared):
            guard case .frame(let type, let body, let origin, let except, let position) = envelope else {
                edge.logger.warning("dropped a control message sent to a shared channel", metadata: ["fanout.channel": "\(String(buffer: channel))"])
                return
            }
            // Offsets checked, encoded once, written to each member (SharedChannel).
            shared.receive(type, body, origin: origin, except: except, position: position)
        }
    }

    /// Counts a frame written to a client (the connection calls this for each).
    func countOut(_ frame: OutboundFrame) {
        traffic.countOut(frame.type, bytes: frame.payloadBytes)
        if let origin = frame.origin { traffic.sampleLatency(origin: origin, counters: edge.counters) }
    }

    /// Counts a client frame the edge accepted for appending.
    func countIn(_ type: FrameType, bytes: Int) {
        traffic.countIn(type, bytes: bytes)
    }

    // MARK: flushing

    /// Notes that `connection` has unflushed writes; they are flushed at the end of this batch.
    func needsFlush(_ connection: WebSocketConnection) {
        dirty.append(connection)
        guard !flushScheduled, !inSubscriberBatch else { return }
        flushScheduled = true
        // Subscriber batches flush at their end (`.endOfBatch`); writes made anywhere else (a
        // refusal, a reply to a join) get one flush after this tick's I/O.
        let loop = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute { loop.value.flush() }
    }

    /// Flushes every connection written to since the last flush: one flush per connection per batch.
    func flush() {
        flushScheduled = false
        guard !dirty.isEmpty else { return }
        let connections = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in connections { connection.flushIfNeeded() }
    }

    private func publishTraffic() {
        traffic.publish(to: edge.counters)
    }

    // MARK: timers and shutdown

    /// Pings the connections whose ping is due; one that did not answer its previous ping is closed (1001).
    private func sweepPings() {
        let now = NIODeadline.now()
        for case .connection(let connection) in routes.values { connection.pingTick(now: now) }
    }

    /// The most frames any connection of this loop has in its outbound buffer (at least).
    var largestPendingFrames: Int {
        var largest = 0
        for case .connection(let connection) in routes.values { largest = max(largest, connection.pendingFrames) }
        return largest
    }

    /// Set by graceful shutdown: every client frame from now on is refused with an error frame
    /// (`draining`), so that the edge knows exactly which entries it must wait for.
    private(set) var refusesFrames = false

    func stopTakingFrames() { refusesFrames = true }

    /// XADDs of this loop's connections not yet answered by Redis.
    var appendsInFlight: Int {
        var total = 0
        for case .connection(let connection) in routes.values { total += connection.appendsInFlight }
        return total
    }

    /// Closes every connection with 1001 after what is already written to it (graceful shutdown).
    func closeAllForShutdown() {
        for case .connection(let connection) in routes.values { connection.closeForShutdown() }
    }
}
