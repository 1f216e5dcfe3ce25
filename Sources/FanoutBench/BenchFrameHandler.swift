import NIOCore
import NIOWebSocket

/// The client side of WebSocket framing after the upgrade: joins fragments, hands whole messages to
/// the connection's ``BenchReceiver``, answers pings and closes. Frames it writes are masked.
final class BenchFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let connection: BenchConnection
    private var fragments: ByteBuffer?

    init(connection: BenchConnection) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            if frame.fin {
                connection.receiver.received(frame.unmaskedData, on: connection)
            } else {
                fragments = frame.unmaskedData
            }
        case .continuation:
            guard var buffer = fragments else { return }
            var more = frame.unmaskedData
            buffer.writeBuffer(&more)
            if frame.fin {
                fragments = nil
                connection.receiver.received(buffer, on: connection)
            } else {
                fragments = buffer
            }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: connection.maskKey, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            // The server closed: answer the close (echoing its code) and drop the socket.
            if !connection.closing { connection.ended() }
            connection.closing = true
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: connection.maskKey, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in context.close(promise: nil) }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.ended()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.ended()
        context.close(promise: nil)
    }
}
