public import FanoutCore
import FanoutEdge
import Foundation
import Hummingbird
import HummingbirdWebSocket
public import Logging
import NIOCore
import NIOWebSocket
public import ServiceLifecycle
import Synchronization

/// `fanout bench ceiling`: the edge's WebSocket stack answering in-process, with no Redis, so the
/// full pipeline can be measured as a ratio to it in the same run.
///
/// It uses the edge's WebSocket settings exactly (the edge's defaults for
/// `maxFrameSize` = the largest message, auto-ping every 30 s, 5 s close timeout, UTF-8 validation) and the edge's connection
/// shape (a reader child task and a writer child task draining an outbox). `/ws` echoes every
/// message, except text messages starting with `{`, which speak the chat protocol of
/// `ChatHandler` (join / say / leave) with rooms held in memory: the in-process broadcast ceiling.
public final class CeilingServer: Service {
    let host: String
    let port: Int
    let maxMessageBytes: Int
    let logger: Logger
    let rooms = CeilingRooms()
    private let boundPort = BoundPort()
    private let nextConnection = Atomic<Int>(0)

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
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/healthz") { _, _ in "ok\n" }
        router.ws("/ws") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, _ in
            try await self.session(inbound: inbound, outbound: outbound)
        }
        // The edge's own limits (message size, ping interval), from the edge's defaults.
        let edge = EdgeConfiguration()
        let webSocket = WebSocketServerConfiguration(
            maxFrameSize: maxMessageBytes, autoPing: .enabled(timePeriod: edge.pingInterval), closeTimeout: .seconds(5), validateUTF8: true)
        let application = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: webSocket),
            configuration: .init(address: .hostname(host, port: port), serverName: "fanout-ceiling"),
            onServerRunning: { channel in
                self.boundPort.announce(channel.localAddress?.port ?? self.port)
            },
            logger: logger)
        try await application.runService()
    }

    /// One connection: a reader child (answers in-process) and a writer child (outbox → socket),
    /// like an edge session; when one ends the other is cancelled and the room memberships go.
    private func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let id = "c\(nextConnection.add(1, ordering: .relaxed).newValue)"
        let (outbox, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        let maxMessageBytes = self.maxMessageBytes
        defer {
            continuation.finish()
            rooms.leaveAll(id)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: maxMessageBytes) {
                    switch message {
                    case .text(let text):
                        if text.utf8.first == UInt8(ascii: "{") {
                            self.chat(text, from: id, outbox: continuation)
                        } else {
                            continuation.yield(ByteBuffer(string: text))
                        }
                    case .binary(let buffer):
                        continuation.yield(buffer)
                    }
                }
            }
            group.addTask {
                for await buffer in outbox {
                    try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
