import NIOCore
import NIOEmbedded
import Testing

@testable import FanoutRedis

/// `RedisConfiguration.oneWriteInFlight`: commands enqueued while the replies to an earlier write
/// are due wait for the last of them and go out as one write; a blocking command in flight, a
/// large held output and a closed connection end the wait. Raw bytes out, raw replies in, through
/// an embedded channel (the edge's real-server tests run the same path end to end).
@Suite struct OneWriteInFlightTests {
    /// Records what a receiver was told, in order.
    final class Recorder: RedisReplyReceiver {
        var events: [String] = []
        func redisReply(_ reply: RedisValue, tag: Int) { events.append("\(tag): \(reply)") }
        func redisFailure(_ error: RedisError, tag: Int) { events.append("\(tag): failed \(error.code)") }
    }

    private func connectedHandler(oneWriteInFlight: Bool = true) throws -> (EmbeddedChannel, RedisChannelHandler) {
        let handler = RedisChannelHandler(commandTimeout: .seconds(5), healthCheckInterval: .seconds(60), oneWriteInFlight: oneWriteInFlight)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return (channel, handler)
    }

    /// `XADD s * f <value>`, as the edge appends a client frame.
    private static func append(_ value: String) -> RedisCommand {
        RedisCommand("XADD", ["s", "*", "f", value])
    }

    private static func encoded(_ values: [String]) -> String {
        values.map { value in
            var buffer = ByteBuffer()
            append(value).writeRESP(into: &buffer)
            return String(buffer: buffer)
        }.joined()
    }

    /// Everything written to the socket since the last call, one string per write.
    private func writes(_ channel: EmbeddedChannel) throws -> [String] {
        var writes: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        return writes
    }

    @Test func commandsWaitForTheRepliesInFlightThenGoOutAsOneWrite() throws {
        let (channel, handler) = try connectedHandler()
        let recorder = Recorder()
        let loop = channel.embeddedEventLoop
        handler.enqueue(Self.append("a"), responder: .acknowledgement(recorder, tag: 1))
        loop.run()
        #expect(try writes(channel) == [Self.encoded(["a"])], "nothing in flight: written at the end of the tick")

        handler.enqueue(Self.append("b"), responder: .acknowledgement(recorder, tag: 2))
        loop.run()
        handler.enqueue(Self.append("c"), responder: .acknowledgement(recorder, tag: 3))
        loop.run()
        #expect(try writes(channel).isEmpty, "a's reply is due: b and c wait")

        try channel.writeInbound(ByteBuffer(string: "$3\r\n1-0\r\n"))
        #expect(recorder.events == ["1: null"])
        #expect(try writes(channel) == [Self.encoded(["b", "c"])], "a's reply is in: b and c go out together")

        try channel.writeInbound(ByteBuffer(string: "$3\r\n2-0\r\n-ERR no\r\n"))
        #expect(recorder.events == ["1: null", "2: null", "3: error(ERR no)"])
        handler.enqueue(Self.append("d"), responder: .acknowledgement(recorder, tag: 4))
        loop.run()
        #expect(try writes(channel) == [Self.encoded(["d"])], "nothing in flight again: no wait")
        _ = try? channel.finish()
    }

    @Test func withoutTheSettingEveryTickWritesItsOwn() throws {
        let (channel, handler) = try connectedHandler(oneWriteInFlight: false)
        let recorder = Recorder()
        let loop = channel.embeddedEventLoop
        handler.enqueue(Self.append("a"), responder: .acknowledgement(recorder, tag: 1))
        loop.run()
        handler.enqueue(Self.append("b"), responder: .acknowledgement(recorder, tag: 2))
        loop.run()
        #expect(try writes(channel) == [Self.encoded(["a"]), Self.encoded(["b"])])
        _ = try? channel.finish()
    }

    @Test func nothingWaitsBehindABlockingCommand() throws {
        let (channel, handler) = try connectedHandler()
        let recorder = Recorder()
        let loop = channel.embeddedEventLoop
        let read = RedisCommand.xreadgroup("s", group: "g", consumer: "c", count: 10, block: .seconds(1))
        handler.enqueue(read, responder: .streamRead(RedisBatchCollector(count: 0, read: true, promise: loop.makePromise())))
        loop.run()
        #expect(try writes(channel).count == 1)
        handler.enqueue(Self.append("a"), responder: .acknowledgement(recorder, tag: 1))
        loop.run()
        #expect(try writes(channel) == [Self.encoded(["a"])], "the read may block for a second: a does not wait for it")
        _ = try? channel.finish()
    }

    @Test func aLargeHeldOutputIsWrittenWithoutWaiting() throws {
        let (channel, handler) = try connectedHandler()
        let recorder = Recorder()
        let loop = channel.embeddedEventLoop
        handler.enqueue(Self.append("a"), responder: .acknowledgement(recorder, tag: 1))
        loop.run()
        _ = try writes(channel)
        let large = String(repeating: "x", count: 16 * 1024)
        for tag in 2...5 { handler.enqueue(Self.append(large), responder: .acknowledgement(recorder, tag: tag)) }
        loop.run()
        let written = try writes(channel)
        #expect(written == [Self.encoded(Array(repeating: large, count: 4))], "64 KiB held: written before a's reply")
        #expect(recorder.events.isEmpty)
        _ = try? channel.finish()
    }

    @Test func aClosedConnectionFailsTheHeldCommands() throws {
        let (channel, handler) = try connectedHandler()
        let recorder = Recorder()
        let loop = channel.embeddedEventLoop
        handler.enqueue(Self.append("a"), responder: .acknowledgement(recorder, tag: 1))
        loop.run()
        handler.enqueue(Self.append("b"), responder: .acknowledgement(recorder, tag: 2))
        loop.run()
        #expect(try writes(channel).count == 1)
        channel.pipeline.fireChannelInactive()
        #expect(recorder.events == ["1: failed connectionClosed", "2: failed connectionClosed"])
        #expect(try writes(channel).isEmpty, "the held write never goes out")
        _ = try? channel.finish()
    }
}
