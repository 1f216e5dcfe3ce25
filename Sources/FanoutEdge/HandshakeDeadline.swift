import Hummingbird
import NIOCore

/// Closes a TCP connection that has not delivered its HTTP request head within the handshake
/// timeout, so idle or slow-loris connections cannot hold sockets and memory before they are even
/// counted as WebSocket connections. (Hummingbird's own idle timeout starts only after a request.)
///
/// It sits first in the pipeline. The edge's router fires ``Met`` for every request it receives;
/// the first one cancels the timer and takes the handler out of the pipeline, so a WebSocket pays
/// nothing for it afterwards.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// The event that tells the deadline the request arrived in time.
    struct Met: Sendable {}

    private let timeout: TimeAmount
    private let onExpiry: @Sendable () -> Void
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, onExpiry: @escaping @Sendable () -> Void) {
        self.timeout = timeout
        self.onExpiry = onExpiry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is Met else { return context.fireUserInboundEventTriggered(event) }
        timer?.cancel()
        timer = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let onExpiry = self.onExpiry
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            onExpiry()
            channel.close(promise: nil)
        }
    }
}

extension HandshakeDeadline {
    /// The router middleware that reports each request's arrival to the connection's deadline.
    struct Middleware: RouterMiddleware {
        func handle(
            _ request: Request, context: EdgeRequestContext, next: (Request, EdgeRequestContext) async throws -> Response
        ) async throws -> Response {
            context.channel.pipeline.fireUserInboundEventTriggered(Met())
            return try await next(request, context)
        }
    }
}
