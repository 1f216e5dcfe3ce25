import FanoutCore
import FanoutRedis
import Logging
import Metrics
import NIOCore
import NIOWebSocket

/// One client WebSocket on an edge: the last handler of its channel's pipeline, after NIO's frame
/// decoder, on the channel's event loop.
///
/// Client → stream: each whole message becomes an XADD enqueued on the loop's Redis connection
/// with this handler as the reply receiver — no task, no await, no hop. Back-pressure is TCP's:
/// while too many of its messages are unacknowledged, the connection stops reading its socket.
///
/// Stream → client: the loop hands each result here; it is written at once and flushed at the end
/// of the loop's batch. A client that reads too slowly shows up in its own channel's outbound
/// buffer (unwritable above the byte bound, or too many frames pending) and is closed with 4008.
///
/// It owns the connection's lifecycle: it subscribes to the connection's channel before anything
/// of the client reaches the stream (so no result is published before its edge listens), and on
/// every exit path (`channelInactive`) the loop undoes its registration, subscriptions and presence.
final class WebSocketConnection: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Subscribing and appending `open`; messages wait in `early`.
        case opening
        case open
        /// A close frame was sent; waiting for the client's, or the close deadline.
        case closing
        case closed
    }

    let id: ConnectionID
    let user: UserID?
    /// `<prefix>:conn:<id>`, and its bytes: the key the loop routes subscriber messages by.
    let channelName: String
    let channelKey: ByteBuffer
    /// Room and user channels this connection is a local member of.
    private(set) var sharedChannels: [String] = []
    /// The inbound stream this connection's entries go to (`FANOUT_STREAM_PARTITIONS`), and its slot.
    let inbound: InboundPartition

    private let loop: EdgeLoop
    let configuration: ConnectionSettings
    private var context: ChannelHandlerContext?
    private var state = State.opening
    private var assembler: MessageAssembler
    /// The 1-based number of the last message received, named in refusals so a client knows
    /// exactly which of its messages were not accepted.
    private var sequence = 0
    /// Messages received before `open` was appended, appended right after it.
    private var early: [(sequence: Int, type: FrameType, payload: ByteBuffer)] = []
    private var unacknowledged = 0
    private var readingPaused = false
    private var rateLimit: TokenBucket?
    /// Refused messages in a row; past the allowance the client is closed with 1008.
    private var strikes = 0
    private var openAppended = false
    /// Set once the `open` XADD is enqueued: from then on a `close` entry must follow, even if the
    /// client leaves before the reply (it is enqueued after `open` on the same connection, so it
    /// lands after it).
    private var openEnqueued = false
    /// Results that arrived while a join's subscription is pending, delivered once it is confirmed.
    private var deferred: CircularBuffer<OutboundEnvelope>?
    private var awaitingPong = false
    /// When this connection is pinged next: one interval after it opened, then every interval.
    private var nextPing: NIODeadline
    private var flushPending = false
    private var closeDeadline: Scheduled<Void>?
    private var framesWritten = 0
    private var lastCheckpoint = 0
    private var framesConfirmed = 0
    /// One append in `EdgeLoop.appendSampling` is timed from enqueue to reply (the XADD metric).
    private var timedAppend: (sequence: Int, start: NIODeadline)?

    init(id: ConnectionID, user: UserID?, loop: EdgeLoop) {
        self.id = id
        self.user = user
        self.loop = loop
        self.configuration = loop.edge.connectionSettings
        self.channelName = loop.edge.keySpace.connection(id)
        self.channelKey = ByteBuffer(string: channelName)
        self.inbound = loop.edge.inboundPartition(for: id)
        self.assembler = MessageAssembler(maxBytes: configuration.maxMessageBytes)
        self.nextPing = .now() + loop.edge.connectionSettings.pingInterval
        if configuration.rateLimit > 0 {
            rateLimit = TokenBucket(rate: configuration.rateLimit, burst: configuration.rateBurst, now: .now)
        }
    }

    var logger: Logger { loop.edge.logger }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if configuration.socketSendBuffer > 0 {
            try? context.channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(configuration.socketSendBuffer))
        }
        loop.register(self)
        // Subscribe before anything of this client reaches the stream: no result can be published
        // before its edge listens. A user's channel is shared by its connections on this loop.
        loop.subscriber.requestSubscribe([channelName]).assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                guard let user = self.user else { return self.appendOpen() }
                let channel = self.loop.edge.keySpace.user(user)
                self.sharedChannels.append(channel)
                self.loop.addMember(self, to: channel).assumeIsolated().whenComplete { result in
                    if case .failure = result { self.refuseConnection() } else { self.appendOpen() }
                }
            case .failure:
                self.refuseConnection()
            }
        }
    }

    private func appendOpen() {
        guard state == .opening else { return }
        // In a cluster the edge's connection set and this stream may live on different masters.
        guard let redis = loop.redis.connectionOnLoop(for: inbound.slot),
            let registry = loop.redis.connectionOnLoop(for: loop.edge.edgeConnectionsSlot)
        else { return refuseConnection() }
        let edgeID = configuration.edgeID
        registry.enqueue(RedisCommand.sadd(loop.edge.keySpace.edgeConnections(edgeID), [id.rawValue]), acknowledgedTo: self, tag: Self.ignoredTag)
        let entry = InboundEntry(kind: .open, connection: id, edge: edgeID, receivedAt: WallClock.microseconds(), user: user)
        redis.enqueue(InboundEntry.XADD(entry, stream: inbound.name, maxLength: configuration.maxStreamLength), acknowledgedTo: self, tag: Self.openTag, replicated: true)
        openEnqueued = true
    }

    func opened() {
        guard state == .opening || state == .closing, !openAppended else { return }
        // Messages received before now were accepted (a later rate-limit close does not undo
        // that): they are appended even when the connection is already closing.
        if state == .opening { state = .open }
        openAppended = true
        logger.debug("connection opened", metadata: ["fanout.conn": "\(id)"])
        let waiting = early
        early = []
        for message in waiting { append(message.sequence, message.type, message.payload) }
        resumeReadingIfDrained()
    }

    /// Redis could not take the connection: it is closed with 1013 before anything is appended.
    func refuseConnection() {
        guard state == .opening else { return }
        logger.warning("refusing a connection: Redis is unavailable", metadata: ["fanout.conn": "\(id)"])
        loop.edge.counters.refusal("unavailable")
        early = []
        startClose(code: CloseCode.tryAgainLater, reason: "try again later")
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasOpened = openEnqueued
        state = .closed
        closeDeadline?.cancel()
        closeDeadline = nil
        early = []
        deferred = nil
        loop.connectionEnded(self, opened: wasOpened)
        logger.debug("connection closed", metadata: ["fanout.conn": "\(id)"])
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? NIOWebSocketError {
            // The frame decoder's verdicts: a frame above the size limit, or a malformed control frame.
            switch error {
            case .invalidFrameLength: violation(code: CloseCode.messageTooBig, reason: "message too big")
            default: violation(code: CloseCode.protocolError, reason: "protocol error")
            }
            return
        }
        // A reset or a failed write: nothing left to say to this client.
        context.close(promise: nil)
    }

    // MARK: client → stream

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            return violation(code: CloseCode.protocolError, reason: "reserved bits set without an extension")
        }
        switch frame.opcode {
        case .text, .binary, .continuation:
            guard state == .opening || state == .open else { return }
            switch assembler.receive(frame.opcode, fin: frame.fin, payload: frame.unmaskedData, allocator: context.channel.allocator) {
            case .incomplete: return
            case .message(let type, let payload): received(type, payload)
            case .violation(let code, let reason): violation(code: code, reason: reason)
            }
        case .ping:
            guard state == .opening || state == .open else { return }
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrameWriter.frame(.pong, payload: frame.unmaskedData, allocator: context.channel.allocator)),
                promise: nil)
        case .pong:
            awaitingPong = false
        case .connectionClose:
            receivedClose(frame.unmaskedData)
        default:
            violation(code: CloseCode.protocolError, reason: "reserved opcode")
        }
    }

    private func received(_ type: FrameType, _ payload: ByteBuffer) {
        sequence += 1
        if var bucket = rateLimit {
            let allowed = bucket.take(now: .now)
            rateLimit = bucket
            if !allowed {
                strikes += 1
                if strikes <= configuration.rateLimitStrikes {
                    refuse(sequence, reason: "rate_limited", policy: .errorFrame)
                    return
                }
                loop.edge.counters.refusal("rate_limit_close")
                logger.info("closing a connection that kept exceeding its rate limit", metadata: ["fanout.conn": "\(id)"])
                startClose(code: CloseCode.policyViolation, reason: "rate limit exceeded")
                return
            }
            strikes = 0
        }
        if state == .opening {
            early.append((sequence, type, payload))
            if early.count >= Self.maxUnacknowledged { pauseReading() }
            return
        }
        append(sequence, type, payload)
    }

    private func append(_ sequence: Int, _ type: FrameType, _ payload: ByteBuffer) {
        if loop.refusesFrames {
            // Graceful shutdown: only what was appended before is waited for (Edge.drain).
            refuse(sequence, reason: "draining", policy: .errorFrame)
            return
        }
        if loop.edge.admission.isRefusing {
            refuse(sequence, reason: "overloaded", policy: configuration.overloadPolicy)
            return
        }
        guard let redis = loop.redis.connectionOnLoop(for: inbound.slot) else {
            logger.debug("Redis unavailable; refusing a frame", metadata: ["fanout.conn": "\(id)"])
            refuse(sequence, reason: "unavailable", policy: configuration.unavailablePolicy)
            return
        }
        let entry = InboundEntry(
            kind: .message, connection: id, edge: configuration.edgeID, frameType: type, receivedAt: WallClock.microseconds(),
            user: user, payload: payload)
        redis.enqueue(InboundEntry.XADD(entry, stream: inbound.name, maxLength: configuration.maxStreamLength), acknowledgedTo: self, tag: sequence, replicated: true)
        if loop.samplesAppend() {
            timedAppend = (sequence, .now())
        }
        if loop.traces { logger.trace("appending a message", metadata: ["fanout.conn": "\(id)", "fanout.seq": "\(sequence)"]) }
        loop.countIn(type, bytes: payload.readableBytes)
        unacknowledged += 1
        if unacknowledged >= Self.maxUnacknowledged { pauseReading() }
    }

    func acknowledged(_ tag: Int) {
        if let timed = timedAppend, timed.sequence == tag {
            timedAppend = nil
            loop.edge.counters.appendDuration.recordNanoseconds((NIODeadline.now() - timed.start).nanoseconds)
        }
        unacknowledged -= 1
        resumeReadingIfDrained()
    }

    private func pauseReading() {
        guard !readingPaused, let context else { return }
        readingPaused = true
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
    }

    private func resumeReadingIfDrained() {
        guard readingPaused, unacknowledged < Self.resumeBelow, early.count < Self.resumeBelow, let context else { return }
        readingPaused = false
        try? context.channel.syncOptions?.setOption(.autoRead, value: true)
    }

    /// Answers a message the edge cannot accept: the error frame
    /// `{"type":"error","error":"<reason>","retry":true,"seq":<n>}` (the connection stays open), or a
    /// close with 1013 — README: "Limits and their answers".
    func refuse(_ sequence: Int, reason: String, policy: RefusalPolicy) {
        guard state == .open || state == .opening, let context else { return }
        loop.edge.counters.refusal(reason)
        switch policy {
        case .errorFrame:
            let text = #"{"type":"error","error":"\#(reason)","retry":true,"seq":\#(sequence)}"#
            write(OutboundFrame(.text, context.channel.allocator.buffer(string: text), origin: nil, allocator: context.channel.allocator))
        case .close:
            startClose(code: CloseCode.tryAgainLater, reason: "try again later")
        }
    }

    // MARK: stream → client

    /// A result published on this connection's channel, in order.
    func deliver(_ envelope: OutboundEnvelope) {
        if deferred != nil {
            deferred!.append(envelope)
            return
        }
        apply(envelope)
    }

    private func apply(_ envelope: OutboundEnvelope) {
        switch envelope {
        case .frame(let type, let payload, let origin, _, _):
            guard let context else { return }
            if loop.traces { logger.trace("delivering a result", metadata: ["fanout.conn": "\(id)", "fanout.bytes": "\(payload.readableBytes)"]) }
            write(OutboundFrame(type, payload, origin: origin, allocator: context.channel.allocator))
        case .close(let code, let reason):
            startClose(code: code, reason: reason)
        case .join(let room, let start):
            // Whatever follows (the chat handler's "joined") waits until the room subscription is
            // confirmed, so a client told it joined is covered by every later broadcast.
            guard state == .open || state == .opening else { return }
            let channel = loop.edge.keySpace.room(room)
            deferred = CircularBuffer()
            loop.addMember(self, to: channel, from: start).assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    if !self.sharedChannels.contains(channel) { self.sharedChannels.append(channel) }
                    self.deliverDeferred()
                case .failure(let error):
                    // Without the subscription the client would miss broadcasts while believing it joined.
                    self.logger.warning("room subscription failed; closing with 1013", metadata: ["fanout.conn": "\(self.id)", "fanout.error": "\(error)"])
                    self.loop.edge.counters.refusal("unavailable")
                    self.deferred = nil
                    self.startClose(code: CloseCode.tryAgainLater, reason: "try again later")
                }
            }
        case .leave(let room):
            let channel = loop.edge.keySpace.room(room)
            sharedChannels.removeAll { $0 == channel }
            loop.removeMember(id, from: channel)
        }
    }

    private func deliverDeferred() {
        guard var queue = deferred else { return }
        deferred = nil
        while let next = queue.popFirst() {
            apply(next)
            if deferred != nil {
                // Another join: the rest waits behind its subscription.
                deferred = queue
                return
            }
        }
    }

    /// Writes a frame (flushed with the loop's batch), unless the client has fallen too far behind.
    func write(_ frame: OutboundFrame) {
        guard state == .open || state == .opening, let context else { return }
        if !context.channel.isWritable || pendingFrames >= configuration.outboxMessages {
            return slowConsumer()
        }
        framesWritten += 1
        if framesWritten - lastCheckpoint >= Self.checkpointEvery {
            // Writes complete in order: once this one is written, every earlier frame is too.
            lastCheckpoint = framesWritten
            let index = framesWritten
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenSuccess { self.framesConfirmed = max(self.framesConfirmed, index) }
            if let tail = frame.tail {
                context.write(wrapOutboundOut(frame.head), promise: nil)
                context.write(wrapOutboundOut(tail), promise: promise)
            } else {
                context.write(wrapOutboundOut(frame.head), promise: promise)
            }
        } else {
            context.write(wrapOutboundOut(frame.head), promise: nil)
            if let tail = frame.tail { context.write(wrapOutboundOut(tail), promise: nil) }
        }
        loop.countOut(frame)
        if !flushPending {
            flushPending = true
            loop.needsFlush(self)
        }
    }

    func flushIfNeeded() {
        guard flushPending else { return }
        flushPending = false
        context?.flush()
    }

    /// Frames in the outbound buffer, at most: those written since the last checkpoint known to be
    /// written (overestimates by fewer than `checkpointEvery`, so the bound holds strictly).
    var pendingFrames: Int { framesWritten - framesConfirmed }

    private func slowConsumer() {
        guard state == .open || state == .opening else { return }
        loop.edge.counters.slowConsumerClosed()
        logger.info("closing a slow consumer: its outbound buffer is full", metadata: ["fanout.conn": "\(id)"])
        // The close frame queues behind what the client has not read; one that does not read it
        // within the grace period is dropped at the TCP level.
        startClose(code: CloseCode.slowConsumer, reason: "slow consumer", timeout: configuration.slowConsumerGrace)
    }

    // MARK: closing

    /// Sends a close frame after everything already written, then waits for the client's close
    /// frame up to `timeout` before dropping the TCP connection.
    private func startClose(code: UInt16, reason: String, timeout: TimeAmount = .seconds(5)) {
        guard state == .open || state == .opening, let context else { return }
        state = .closing
        context.writeAndFlush(wrapOutboundOut(WebSocketFrameWriter.close(code: code, reason: reason, allocator: context.channel.allocator)), promise: nil)
        flushPending = false
        let channel = context.channel
        closeDeadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    /// The client broke the protocol: close frame with `code`, then close the TCP connection.
    private func violation(code: UInt16, reason: String) {
        guard let context else { return }
        if state == .open || state == .opening {
            closeOnceWritten(code: code, reason: reason, context)
        } else {
            context.close(promise: nil)
        }
    }

    /// Sends a close frame and drops the TCP connection once it is written, without waiting for
    /// the client's close: after a violation, an answer to the client's own close, or a ping timeout.
    private func closeOnceWritten(code: UInt16, reason: String, _ context: ChannelHandlerContext) {
        state = .closing
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrameWriter.close(code: code, reason: reason, allocator: channel.allocator)))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    private func receivedClose(_ payload: ByteBuffer) {
        guard let context else { return }
        switch state {
        case .closing:
            // Our close was answered: the handshake is complete.
            context.close(promise: nil)
        case .opening, .open:
            closeOnceWritten(code: CloseCode.answer(toClose: payload), reason: "", context)
        case .closed:
            break
        }
    }

    // MARK: timers

    /// Called by the loop's sweep: when this connection's ping is due, a peer that has not answered
    /// the previous one is closed with 1001, any other is pinged.
    func pingTick(now: NIODeadline) {
        guard state == .open || state == .opening, let context, now >= nextPing else { return }
        nextPing = now + configuration.pingInterval
        if awaitingPong { return closeOnceWritten(code: CloseCode.goingAway, reason: "Ping timeout", context) }
        awaitingPong = true
        context.writeAndFlush(wrapOutboundOut(WebSocketFrameWriter.frame(.ping, payload: ByteBuffer(), allocator: context.channel.allocator)), promise: nil)
    }

    /// XADDs sent and not yet answered (graceful shutdown waits for them).
    var appendsInFlight: Int { unacknowledged }

    /// `true` until a close began: the connection still takes writes.
    var isOpen: Bool { state == .open || state == .opening }

    /// A room or user channel could not keep this client's messages in order (history did not
    /// cover a gap): 4010 after what is already written, so the client rejoins with `since`.
    func closeForResync(_ reason: String) {
        startClose(code: CloseCode.insufficientState, reason: reason)
    }

    /// Graceful shutdown: 1001 after everything already written.
    func closeForShutdown() {
        startClose(code: CloseCode.goingAway, reason: "going away")
    }
}
