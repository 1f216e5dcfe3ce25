import NIOCore

/// Receives every reply of a connection that was switched into pub/sub mode.
///
/// Called on the connection's event loop, in the order the server sent the replies.
protocol RedisPushReceiver: AnyObject {
    func receive(_ value: RedisValue)
}

/// Where one reply in the FIFO goes.
enum RedisResponder {
    case single(CheckedContinuation<RedisValue, any Error>)
    case batch(RedisBatchCollector, index: Int)
    /// A health-check PING: the reply proves liveness and is otherwise dropped.
    case discard

    func succeed(_ value: RedisValue) {
        switch self {
        case .single(let continuation): continuation.resume(returning: value)
        case .batch(let collector, let index): collector.receive(value, at: index)
        case .discard: break
        }
    }

    func fail(_ error: RedisError) {
        switch self {
        case .single(let continuation): continuation.resume(throwing: error)
        case .batch(let collector, _): collector.fail(error)
        case .discard: break
        }
    }
}

/// Collects the replies of one `pipeline` call and resumes its caller once, with all of them or an error.
/// Used only on the connection's event loop.
final class RedisBatchCollector {
    private var values: [RedisValue]
    private var remaining: Int
    private var continuation: CheckedContinuation<[RedisValue], any Error>?

    init(count: Int, continuation: CheckedContinuation<[RedisValue], any Error>) {
        self.values = Array(repeating: .null, count: count)
        self.remaining = count
        self.continuation = continuation
    }

    func receive(_ value: RedisValue, at index: Int) {
        values[index] = value
        remaining -= 1
        if remaining == 0, let continuation {
            self.continuation = nil
            continuation.resume(returning: values)
        }
    }

    func fail(_ error: RedisError) {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(throwing: error)
    }
}

/// The NIO handler of one Redis connection: encodes commands with hiredis, parses replies with
/// hiredis's reader, and matches replies to commands in FIFO order (RESP2 has no request IDs,
/// so order is the only correlation; anything that could break it closes the connection).
///
/// Confined to the channel's event loop. Also runs the connection's health timer: a command whose
/// deadline passed, or an idle connection that does not answer PING, closes the connection so that
/// every caller fails promptly instead of hanging.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        let command: String
        let deadline: NIODeadline
        let responder: RedisResponder
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
    /// Set when the connection becomes a subscriber: from then on every reply goes here.
    var pushReceiver: (any RedisPushReceiver)?

    init(commandTimeout: Duration, healthCheckInterval: Duration) {
        self.commandTimeout = TimeAmount(commandTimeout)
        self.healthCheckInterval = TimeAmount(healthCheckInterval)
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
            while let value = try reader.next() {
                deliver(value)
            }
        } catch {
            close(error)
        }
    }

    private func deliver(_ value: RedisValue) {
        if let pushReceiver {
            pushReceiver.receive(value)
            return
        }
        guard let head = pending.popFirst() else {
            close(RedisError(.protocolError, "a reply arrived with no command waiting for it"))
            return
        }
        head.responder.succeed(value)
    }

    /// Writes commands as one batch and queues their responders in the same order.
    func write(_ commands: some Sequence<(RedisCommand, RedisResponder)>) {
        guard let context, closedError == nil, context.channel.isActive else {
            for (command, responder) in commands {
                responder.fail(RedisError(.connectionClosed, "connection is closed", command: command.name))
            }
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        let now = NIODeadline.now()
        for (command, responder) in commands {
            RESPCommandEncoder.encode(command, into: &buffer)
            let deadline = now + commandTimeout + TimeAmount(command.blockingTime)
            pending.append(Pending(command: command.name, deadline: deadline, responder: responder))
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Writes commands whose replies are not matched in order (pub/sub mode: the receiver reads them).
    func writeUntracked(_ commands: [RedisCommand]) {
        guard let context, closedError == nil, context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        for command in commands { RESPCommandEncoder.encode(command, into: &buffer) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Fails everything in flight with `error` and closes the channel. The connection is never reused.
    func close(_ error: RedisError) {
        if closedError == nil { closedError = error }
        // Close before failing callers, so that a caller resumed with this error already sees
        // the connection as inactive and does not send its retry into the same dead socket.
        context?.close(promise: nil)
        failAll(error)
    }

    private func failAll(_ error: RedisError) {
        while let head = pending.popFirst() {
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
                writeUntracked([RedisCommand("PING")])
            } else {
                write(CollectionOfOne((RedisCommand("PING"), .discard)))
            }
        }
    }
}
