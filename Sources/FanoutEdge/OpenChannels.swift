import NIOCore
import Synchronization

/// The edge's HTTP connections that have not become WebSockets (yet): an idle keep-alive
/// connection, or one a browser opened in advance and never used. The HTTP server's graceful
/// shutdown waits for these forever, so past the shutdown timeout the edge closes them itself.
final class OpenChannels: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }

    /// Closes every tracked connection; returns how many there were.
    @discardableResult
    func closeAll() -> Int {
        let open = channels.withLock { $0.values }
        for channel in open { channel.close(promise: nil) }
        return open.count
    }

    /// The per-connection handler that keeps the set current; the upgrade to WebSocket removes it.
    func makeHandler() -> some RemovableChannelHandler { TrackingHandler(openChannels: self) }

    private final class TrackingHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        let openChannels: OpenChannels
        init(openChannels: OpenChannels) { self.openChannels = openChannels }
        func handlerAdded(context: ChannelHandlerContext) { openChannels.add(context.channel) }
        func handlerRemoved(context: ChannelHandlerContext) { openChannels.remove(context.channel) }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }
    }
}
