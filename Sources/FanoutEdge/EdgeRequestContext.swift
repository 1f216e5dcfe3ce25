import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of edge routes: Hummingbird's basic WebSocket context plus the connection's
/// channel, which the edge needs to drop a client that stopped reading entirely (a close frame
/// cannot reach it) and to know the peer's address.
struct EdgeRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}
