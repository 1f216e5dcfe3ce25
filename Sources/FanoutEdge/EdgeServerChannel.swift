import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// The edge's server child channel: hummingbird-websocket's HTTP/1 + WebSocket upgrade channel
/// with a ``HandshakeDeadline`` in front of it.
///
/// Wrapping rather than re-implementing keeps every byte of the WebSocket path (upgrade,
/// extension negotiation, frame handling) hummingbird-websocket's own.
struct EdgeServerChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value

    let upgradeChannel: HTTP1WebSocketUpgradeChannel
    let handshakeTimeout: TimeAmount
    let onHandshakeTimeout: @Sendable () -> Void

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: handshakeTimeout, onExpiry: onHandshakeTimeout))
        }.flatMap {
            upgradeChannel.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await upgradeChannel.handle(value: value, logger: logger)
    }
}
