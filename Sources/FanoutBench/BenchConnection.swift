import NIOCore
import NIOWebSocket

/// What a bench mode does with the messages of its connections. Called on the connection's event
/// loop, once per whole message (fragments are joined by ``BenchFrameHandler``).
protocol BenchReceiver: AnyObject, Sendable {
    func received(_ payload: ByteBuffer, on connection: BenchConnection)
}

/// One client WebSocket of the load generator and the per-connection state the modes keep.
///
/// `@unchecked Sendable`: the object is handed between the driver's tasks and the event loop, but
/// every mutable field is read and written only on `eventLoop` (the driver reaches it through
/// `eventLoop.execute`/`submit`), like a NIO channel handler.
final class BenchConnection: @unchecked Sendable {
    /// The connection's number in the run (0-based), carried in every payload it sends.
    let index: Int
    let eventLoop: any EventLoop
    let stats: LoopStats
    let receiver: any BenchReceiver
    var channel: (any Channel)?
    /// Clients must mask every frame (RFC 6455 §5.3). One random key per connection keeps the
    /// per-message path free of random-number calls; the bench talks only to our own servers.
    let maskKey = WebSocketMaskingKey.random()
    /// Set before the bench closes the connection itself, so the close is not counted as an error.
    var closing = false
    /// Set once the connection is upgraded and usable.
    var open = false

    // Mode state.
    /// Number of the next message this connection sends.
    var nextSequence: UInt64 = 0
    /// Closed loop: a message is out and its reply not yet back.
    var awaitingReply = false
    /// Open loop and fanout: the intended send time (monotonic ns) of the next message.
    var nextIntended: UInt64 = 0
    /// Nanoseconds between two intended sends of this connection.
    var interval: UInt64 = 0
    /// Fanout: the room join was answered; conns: the confirmation echo came back.
    var ready = false
    /// When the connect began (monotonic ns).
    var startedAt: UInt64 = 0
    /// Conns: completed when the confirmation echo comes back.
    var confirmed: EventLoopPromise<Void>?

    init(index: Int, eventLoop: any EventLoop, stats: LoopStats, receiver: any BenchReceiver) {
        self.index = index
        self.eventLoop = eventLoop
        self.stats = stats
        self.receiver = receiver
    }

    /// Writes one masked text frame and flushes it. Must run on `eventLoop`.
    func send(text buffer: ByteBuffer) {
        channel?.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: buffer), promise: nil)
    }

    /// Sends a normal close (1000) and closes the socket. Must run on `eventLoop`.
    func close() {
        closing = true
        guard let channel, channel.isActive else { return }
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .normalClosure)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey, data: data))
            .whenComplete { _ in channel.close(promise: nil) }
    }

    /// The socket ended. Unless the bench closed it, that is an error of the system under test.
    func ended() {
        if open, !closing { stats.errors += 1 }
        open = false
    }
}
