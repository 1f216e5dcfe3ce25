import NIOCore
import NIOEmbedded

@testable import FanoutRedis

/// A `RedisChannelHandler` in a connected embedded channel: raw replies in with `writeInbound`,
/// the bytes it wrote out with `readOutbound`, its event loop run by hand. No server.
struct EmbeddedRedisHandler {
    let channel: EmbeddedChannel
    let handler: RedisChannelHandler
    var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

    init(oneWriteInFlight: Bool = false, writeCoalescing: Duration = .zero, coalescingAdapts: Bool = false) throws {
        handler = RedisChannelHandler(
            commandTimeout: .seconds(5), healthCheckInterval: .seconds(60), writeCoalescing: writeCoalescing, coalescingAdapts: coalescingAdapts,
            oneWriteInFlight: oneWriteInFlight)
        channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
    }

    /// Everything written to the socket since the last call, one string per write.
    func writes() throws -> [String] {
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        return writes
    }
}

/// Records what an acknowledgement receiver was told, in order (`"tag: reply"`).
final class RecordingReplyReceiver: RedisReplyReceiver {
    var events: [String] = []
    func redisReply(_ reply: RedisValue, tag: Int) { events.append("\(tag): \(reply)") }
    func redisFailure(_ error: RedisError, tag: Int) { events.append("\(tag): failed \(error.code)") }
}
