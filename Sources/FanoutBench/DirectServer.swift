import FanoutCore
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
public import ServiceLifecycle
import Synchronization

/// `fanout bench direct`: the reference every pipeline number is a ratio to — a WebSocket echo and
/// chat server with no queue, written the way a user of SwiftNIO would write one instead of
/// Fanout: NIO's WebSocket upgrader, its frame aggregator, and one channel handler per connection
/// that answers in place (`DirectWebSocketHandler`). No framework, no tasks, rooms in memory.
///
/// `/ws` echoes every message, except text messages starting with `{`, which speak the chat
/// protocol of `ChatHandler` (join / say / leave), so the bench's modes run unchanged against it.
public final class DirectServer: Service {
    let host: String
    let port: Int
    let maxMessageBytes: Int
    let logger: Logger
    let rooms = DirectRooms()
    private let boundPort = BoundPort()

    public init(host: String = "127.0.0.1", port: Int, maxMessageBytes: Int = 1_048_576, logger: Logger) {
        self.host = host
        self.port = port
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
    }

    /// The port the server listens on, once it does (port 0 picks a free one); `nil` if cancelled first.
    public func listeningPort() async -> Int? {
        await boundPort.wait()
    }

    public func run() async throws {
        let rooms = self.rooms
        let maxMessageBytes = self.maxMessageBytes
        let nextID = Atomic<Int>(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: maxMessageBytes,
                    shouldUpgrade: { channel, head in
                        channel.eventLoop.makeSucceededFuture(head.uri.hasPrefix("/ws") ? HTTPHeaders() : nil)
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let id = "c\(nextID.wrappingAdd(1, ordering: .relaxed).newValue)"
                            try channel.pipeline.syncOperations.addHandlers([
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1024, maxAccumulatedFrameSize: maxMessageBytes),
                                DirectWebSocketHandler(id: id, rooms: rooms),
                            ])
                        }
                    })
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
            .bind(host: host, port: port).get()
        boundPort.announce(channel.localAddress?.port ?? port)
        logger.info("direct server listening", metadata: ["fanout.url": "ws://\(host):\(channel.localAddress?.port ?? port)/ws"])
        try await withTaskCancellationHandler {
            try? await gracefulShutdown()
            try await channel.close()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
