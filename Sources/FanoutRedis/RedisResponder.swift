public import NIOCore

/// Receives replies on the connection's event loop, for commands enqueued from that loop.
///
/// The hot-path alternative to a promise: an edge's connection handler appends its XADDs with
/// itself as receiver and a tag of its choosing (the message's sequence number), so a reply costs
/// no allocation, no continuation and no hop. Replies arrive in the order the commands were enqueued.
public protocol RedisReplyReceiver: AnyObject {
    /// The reply to the command enqueued with `tag`. An error reply is `.error(text)`, not a failure.
    func redisReply(_ reply: RedisValue, tag: Int)
    /// The command enqueued with `tag` has no reply: the connection failed or closed first. It may
    /// or may not have run.
    func redisFailure(_ error: RedisError, tag: Int)
}

/// Where one reply in a connection's FIFO goes.
enum RedisResponder {
    /// Completes a promise (async callers, off the hot path).
    case promise(EventLoopPromise<RedisValue>)
    /// One reply of a `pipeline` call.
    case batch(RedisBatchCollector, index: Int)
    /// The stream read that ends a `pipeline(_:thenRead:)` call: its reply is decoded into entries
    /// straight from the reply tape (`RedisChannelHandler`).
    case streamRead(RedisBatchCollector)
    /// A loop-local receiver (see `RedisReplyReceiver`).
    case receiver(any RedisReplyReceiver, tag: Int)
    /// A loop-local receiver that needs only to know the command succeeded: a reply that is not
    /// an error reaches it as `.null`, and no value is made of it (`RedisChannelHandler`) — unless
    /// it was held for a WAIT (`ReplicationGate`), which hands over the reply itself.
    case acknowledgement(any RedisReplyReceiver, tag: Int)
    /// A health-check PING: the reply proves liveness and is otherwise dropped.
    case discard

    func succeed(_ value: RedisValue) {
        switch self {
        case .promise(let promise): promise.succeed(value)
        case .batch(let collector, let index): collector.receive(value, at: index)
        case .streamRead(let collector):
            // Not reached today (stream reads are never held for a WAIT, and the handler takes them
            // off the tape); kept so that a read taken as a value still decodes the same way.
            collector.receiveRead(StreamEntry.readResult(value, command: "XREADGROUP"))
        case .receiver(let receiver, let tag), .acknowledgement(let receiver, let tag): receiver.redisReply(value, tag: tag)
        case .discard: break
        }
    }

    func fail(_ error: RedisError) {
        switch self {
        case .promise(let promise): promise.fail(error)
        case .batch(let collector, _), .streamRead(let collector): collector.fail(error)
        case .receiver(let receiver, let tag), .acknowledgement(let receiver, let tag): receiver.redisFailure(error, tag: tag)
        case .discard: break
        }
    }
}

/// The replies of one `pipeline(_:thenRead:)` call: the commands' replies in order, then the read's entries.
public struct PipelineReplies: Sendable {
    /// One per command, error replies as `.error` values.
    public var values: [RedisValue]
    /// The stream read's entries, or why there are none (an error reply is a `.server` failure).
    /// `nil` for a pipeline without a read.
    public var read: Result<[StreamEntry], RedisError>?
}

/// Collects the replies of one `pipeline` call and completes its promise once, with all of them or
/// an error. Used only on the connection's event loop.
final class RedisBatchCollector {
    private var replies: PipelineReplies
    private var remaining: Int
    private var promise: EventLoopPromise<PipelineReplies>?

    /// `count` replies, plus a stream read's when `read`.
    init(count: Int, read: Bool = false, promise: EventLoopPromise<PipelineReplies>) {
        self.replies = PipelineReplies(values: Array(repeating: .null, count: count), read: nil)
        self.remaining = count + (read ? 1 : 0)
        self.promise = promise
    }

    func receive(_ value: RedisValue, at index: Int) {
        replies.values[index] = value
        received()
    }

    func receiveRead(_ read: Result<[StreamEntry], RedisError>) {
        replies.read = read
        received()
    }

    private func received() {
        remaining -= 1
        if remaining == 0, let promise {
            self.promise = nil
            promise.succeed(replies)
        }
    }

    func fail(_ error: RedisError) {
        guard let promise else { return }
        self.promise = nil
        promise.fail(error)
    }
}
