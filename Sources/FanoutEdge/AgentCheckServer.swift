import Logging
import NIOCore
import NIOPosix

/// Answers HAProxy's agent-check protocol: on every TCP connection, write the edge's state as one
/// ASCII line and close. HAProxy then weighs the server (`up ready 37%`), stops sending it new
/// connections (`drain`) or takes it out (`down`).
/// https://docs.haproxy.org/2.6/configuration.html#5.2-agent-check
struct AgentCheckServer: Sendable {
    let host: String
    let port: Int
    let logger: Logger
    let state: @Sendable () -> String

    func run() async throws {
        let state = self.state
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(AgentCheckHandler(state: state))
                }
            }
            .bind(host: host, port: port).get()
        logger.info("agent-check listening", metadata: ["fanout.agent_port": "\(port)"])
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// Writes the state line as soon as HAProxy connects, then closes.
private final class AgentCheckHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let state: @Sendable () -> String

    init(state: @escaping @Sendable () -> String) { self.state = state }

    func channelActive(context: ChannelHandlerContext) {
        let line = context.channel.allocator.buffer(string: state() + "\n")
        context.writeAndFlush(wrapOutboundOut(line)).whenComplete { [context] _ in context.close(promise: nil) }
    }
}
