import Metrics
import NIOCore

/// Receives every reply of a connection that was switched into pub/sub mode.
///
/// Called on the connection's event loop, in the order the server sent the replies.
protocol RedisPushReceiver: AnyObject {
    func receive(_ value: RedisValue)
    /// A `message` or `smessage` push, taken straight off the reply tape (no value made).
    func receiveMessage(channel: ByteBuffer, payload: ByteBuffer)
    /// The bytes of one socket read were all parsed: a receiver that queued writes flushes them now.
    func receiveComplete()
}

/// The NIO handler of one Redis connection: encodes commands into one output buffer, parses
/// replies with hiredis's reader, and matches replies to commands in FIFO order (RESP2 has no
/// request IDs, so order is the only correlation; anything that could break it closes the connection).
///
/// Confined to the channel's event loop. Commands enqueued during one event-loop tick go out as
/// one write and one flush, scheduled once per tick: that is the automatic pipelining, and it costs
/// no lock and no allocation per command. Also runs the connection's health timer: a command whose
/// deadline passed, or an idle connection that does not answer PING, closes the connection so that
/// every caller fails promptly instead of hanging.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let command: String
        let deadline: NIODeadline
        let responder: RedisResponder
        let role: ReplicationGate.Role
        /// A command that may wait at the server (a blocking read, WAIT): no write is held behind it.
        let blocks: Bool
    }

    private let reader = RESPReader()
    private var pending = CircularBuffer<Pending>(initialCapacity: 64)
    private var context: ChannelHandlerContext?
    private var closedError: RedisError?
    private var lastRead = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var timer: RepeatedTask?
    private let commandTimeout: TimeAmount
    private let healthCheckInterval: TimeAmount
    /// Commands encoded since the last flush.
    private var output: ByteBuffer?
    private var outputCommands = 0
    /// The time this tick's first command was enqueued: deadlines need no clock read per command.
    private var tickStart: NIODeadline?
    private var flushScheduled = false
    /// Set when the connection becomes a subscriber: from then on every reply goes here.
    var pushReceiver: (any RedisPushReceiver)?
    /// `FANOUT_REDIS_MIN_REPLICAS` > 0: the WAIT per batch and the replies it holds.
    private var replication: ReplicationGate?
    /// Set on a cluster connection: told about every `MOVED`, `ASK` or `CLUSTERDOWN` reply, whoever
    /// it goes to, so the owner refreshes its slot map (`RedisClusterClient`).
    var onRedirect: (() -> Void)?

    /// How long a tick's commands wait for company before they are written (`delay`; zero: end of
    /// the tick), and whether that wait pays now (`RedisConfiguration.coalescingAdapts`; decision 0046).
    private var coalescingGovernor: LingerGovernor
    /// Whether a tick's commands wait while replies to earlier writes are still due (see
    /// `RedisConfiguration.oneWriteInFlight`).
    private let oneWriteInFlight: Bool
    /// Commands in `pending` that may wait at the server.
    private var blockingInFlight = 0
    /// The output is complete but held until the replies in flight are in.
    private var flushHeld = false
    /// When the first held command was enqueued (the loop's clock).
    private var heldSince: NIODeadline?
    /// The flush waiting out the coalescing delay, if one is: cancelled when the output is written
    /// sooner (64 KiB), so it does not cut the next output's delay short.
    private var delayedFlush: Scheduled<Void>?
    /// A held output this large is written at once: the hold saves wake-ups, not bytes.
    private static let heldOutputLimit = 64 * 1024

    init(
        commandTimeout: Duration, healthCheckInterval: Duration, writeCoalescing: Duration = .zero,
        coalescingAdapts: Bool = false, oneWriteInFlight: Bool = false, replication: ReplicationGate? = nil
    ) {
        self.commandTimeout = TimeAmount(commandTimeout)
        self.healthCheckInterval = TimeAmount(healthCheckInterval)
        self.coalescingGovernor = LingerGovernor(
            delay: TimeAmount(writeCoalescing), adaptive: coalescingAdapts,
            metrics: LingerMetrics(linger: "write"))
        self.oneWriteInFlight = oneWriteInFlight
        self.replication = replication
    }

    /// `true` while commands can be enqueued.
    var isUsable: Bool {
        guard let context, closedError == nil else { return false }
        return context.channel.isActive
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let tick = TimeAmount.milliseconds(max(10, min(250, commandTimeout.nanoseconds / 10_000_000)))
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            loopBoundSelf.value.checkHealth(now: .now())
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        failAll(closedError ?? RedisError(.connectionClosed, "connection closed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        failAll(closedError ?? RedisError(.connectionClosed, "connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(RedisError(.connectionClosed, "connection failed: \(error)"))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        lastRead = .now()
        do {
            try reader.feed(buffer)
            while try reader.nextReply() {
                if let pushReceiver {
                    if let message = reader.takePushMessage() {
                        pushReceiver.receiveMessage(channel: message.channel, payload: message.payload)
                    } else {
                        pushReceiver.receive(reader.takeValue())
                    }
                    continue
                }
                if let head = pending.first, head.role == .direct, case .acknowledgement(let receiver, let tag) = head.responder,
                    reader.dropUnlessError()
                {
                    // An edge's XADD: only success matters, and its reply is not made into a value.
                    popPending()
                    receiver.redisReply(.null, tag: tag)
                    continue
                }
                if let head = pending.first, head.role == .direct, case .streamRead(let collector) = head.responder {
                    // A worker's read: its entries come straight off the reply tape (no value tree).
                    popPending()
                    let read = reader.takeStreamRead(command: head.command)
                    collector.receiveRead(read)
                    if case .failure(let error) = read, error.code == .server { noticeErrorReply(error.message, command: head.command) }
                    continue
                }
                deliver(reader.takeValue())
            }
        } catch {
            close(error)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        pushReceiver?.receiveComplete()
        if flushHeld, pending.count <= outputCommands {
            // The last reply of the write in flight is in: the held commands go out together.
            releaseHold(context)
        }
        context.fireChannelReadComplete()
    }

    /// Writes the held output now, or — while the coalescing delay applies — once its first command
    /// has waited that long: a hold must not cut a linger short, or a write goes out with the few
    /// commands of one round trip instead of the delay's worth.
    private func releaseHold(_ context: ChannelHandlerContext) {
        guard coalescingGovernor.lingers, let first = heldSince else {
            flushOutput()
            return
        }
        let remaining = first + coalescingGovernor.delay - context.eventLoop.now
        guard remaining > .zero else {
            flushOutput()
            return
        }
        flushHeld = false  // `flushScheduled` stays set: the timer below is the flush
        tickStart = nil  // later commands' deadlines start when they are enqueued
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        delayedFlush = context.eventLoop.scheduleTask(in: remaining) { loopBoundSelf.value.flushOutput() }
    }

    /// Removes the oldest pending command, whose reply has arrived.
    @discardableResult
    private func popPending() -> Pending? {
        guard let head = pending.popFirst() else { return nil }
        if head.blocks { blockingInFlight -= 1 }
        return head
    }

    private func deliver(_ value: RedisValue) {
        if let pushReceiver {
            pushReceiver.receive(value)
            return
        }
        guard let head = popPending() else {
            close(RedisError(.protocolError, "a reply arrived with no command waiting for it"))
            return
        }
        switch head.role {
        case .direct: head.responder.succeed(value)
        case .held: replication?.hold(head.responder, value)
        case .wait:
            guard replication != nil else { break }
            let failure = replication!.verdict(value)
            ReplicationGate.deliver(replication!.takeHeld(), failing: failure)
        }
        if case .error(let message) = value { noticeErrorReply(message, command: head.command) }
    }

    /// What an error reply says about the connection itself, acted on whoever the reply went to.
    private func noticeErrorReply(_ message: String, command: String) {
        if RedisError.meansNotMaster(message) {
            // The node is (no longer) a writable master: a failover. Everything after this reply
            // would fail the same way; the owner reconnects, asking the sentinels where to.
            close(RedisError(.notMaster, message, command: command))
        } else if let onRedirect, RedisError.meansSlotMoved(message) {
            // A cluster connection: the slot map its owner routes by is stale (decision 0040).
            onRedirect()
        }
    }

    /// Encodes `command` into this tick's output and queues its responder. Never waits.
    /// `replicated`: hold the reply for this batch's WAIT (see `ReplicationGate`).
    func enqueue(_ command: some RedisCommandEncodable, responder: RedisResponder, replicated: Bool = false) {
        guard let context, closedError == nil, context.channel.isActive else {
            responder.fail(RedisError(.connectionClosed, "connection is closed", command: command.name))
            return
        }
        // A hold spans ticks: each held command's deadline starts when it was enqueued.
        let now = (flushHeld ? nil : tickStart) ?? NIODeadline.now()
        tickStart = now
        appendOutput(command, context)
        var role = ReplicationGate.Role.direct
        if replicated, replication != nil {
            role = .held
            replication!.batchNeedsWait = true
        }
        let blocks = command.blockingTime > .zero
        if blocks { blockingInFlight += 1 }
        pending.append(Pending(command: command.name, deadline: now + commandTimeout + TimeAmount(command.blockingTime), responder: responder, role: role, blocks: blocks))
        scheduleFlush(context)
    }

    /// Encodes a command whose reply is not matched in order (pub/sub mode: the receiver reads them).
    func enqueueUntracked(_ command: some RedisCommandEncodable) {
        guard let context, closedError == nil, context.channel.isActive else { return }
        appendOutput(command, context)
        scheduleFlush(context)
    }

    private func appendOutput(_ command: some RedisCommandEncodable, _ context: ChannelHandlerContext) {
        // Taken out of `output` while written, so the buffer is uniquely referenced (no copy on write).
        var buffer = output ?? context.channel.allocator.buffer(capacity: 512)
        output = nil
        command.writeRESP(into: &buffer)
        output = buffer
        outputCommands += 1
    }

    private func scheduleFlush(_ context: ChannelHandlerContext) {
        if flushHeld || delayedFlush != nil, (output?.readableBytes ?? 0) >= Self.heldOutputLimit {
            flushOutput()  // at once, whatever the coalescing delay
            return
        }
        guard !flushScheduled else { return }
        flushScheduled = true
        if oneWriteInFlight, pending.count > outputCommands, blockingInFlight == 0,
            (output?.readableBytes ?? 0) < Self.heldOutputLimit
        {
            // Replies to an earlier write are still due: these commands wait for them and go out
            // with everything enqueued meanwhile, from `channelReadComplete` (Redis answers a
            // connection's commands in order, so they would have queued behind those anyway).
            flushHeld = true
            heldSince = context.eventLoop.now
            return
        }
        // Runs after the I/O events of this tick (or after the coalescing delay): everything
        // enqueued meanwhile shares the write.
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        if coalescingGovernor.lingers {
            delayedFlush = context.eventLoop.scheduleTask(in: coalescingGovernor.delay) { loopBoundSelf.value.flushOutput() }
        } else {
            context.eventLoop.execute { loopBoundSelf.value.flushOutput() }
        }
    }

    /// Writes everything enqueued since the last flush with one write and one flush.
    func flushOutput() {
        flushScheduled = false
        flushHeld = false
        delayedFlush?.cancel()
        delayedFlush = nil
        tickStart = nil
        guard let context else { return }
        if replication?.batchNeedsWait == true { appendWait(context) }
        guard let buffer = output else { return }
        output = nil
        RedisMetrics.batchSize.record(outputCommands)
        coalescingGovernor.record(outputCommands, now: .now())
        outputCommands = 0
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Appends this batch's WAIT behind its commands (see `ReplicationGate`).
    private func appendWait(_ context: ChannelHandlerContext) {
        replication!.batchNeedsWait = false
        let wait = replication!.waitCommand
        appendOutput(wait, context)
        blockingInFlight += 1
        pending.append(Pending(command: wait.name, deadline: .now() + commandTimeout + TimeAmount(wait.blockingTime), responder: .discard, role: .wait, blocks: true))
    }

    /// Fails everything in flight with `error` and closes the channel. The connection is never reused.
    func close(_ error: RedisError) {
        if closedError == nil { closedError = error }
        output = nil
        // Close before failing callers, so that a caller resumed with this error already sees
        // the connection as inactive and does not send its retry into the same dead socket.
        context?.close(promise: nil)
        failAll(error)
    }

    private func failAll(_ error: RedisError) {
        // Held replies came before anything still pending: fail them first, in order.
        if let held = replication?.takeHeld() { ReplicationGate.deliver(held, failing: error, connectionFailed: true) }
        flushHeld = false
        while let head = popPending() {
            head.responder.fail(error.with(command: head.command))
        }
    }

    private func checkHealth(now: NIODeadline) {
        if let head = pending.first {
            // An outstanding command's own deadline governs; blocking reads carry their block time in it.
            if head.deadline < now {
                close(RedisError(.timedOut, "no reply within the command timeout", command: head.command))
            }
            return
        }
        if let pingSentAt {
            if lastRead >= pingSentAt {
                self.pingSentAt = nil
            } else if now - pingSentAt > commandTimeout {
                close(RedisError(.timedOut, "the server did not answer a health-check PING", command: "PING"))
                return
            } else {
                return
            }
        }
        if now - lastRead > healthCheckInterval {
            pingSentAt = now
            if pushReceiver != nil {
                enqueueUntracked(RedisCommand("PING"))
            } else {
                enqueue(RedisCommand("PING"), responder: .discard)
            }
        }
    }
}
