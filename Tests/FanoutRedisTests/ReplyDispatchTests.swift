import NIOCore
import NIOEmbedded
import Testing

@testable import FanoutRedis

/// `RedisChannelHandler` hands each reply to the command at the head of its FIFO, through the
/// tape's fast paths (acknowledgements, stream reads) or as a value. Raw replies in, what each
/// responder received out; no server (the real-server tests cover the same paths end to end).
@Suite struct ReplyDispatchTests {
    private func connectedHandler() throws -> (EmbeddedChannel, RedisChannelHandler) {
        let embedded = try EmbeddedRedisHandler()
        return (embedded.channel, embedded.handler)
    }

    private static let read = RedisCommand.xreadgroup("s", group: "g", consumer: "c", count: 10, block: .milliseconds(100))
    /// One entry `1-0` with `k` = `v`, as XREADGROUP returns it.
    private static let entryReply = "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n"

    @Test func everyReplyReachesItsOwnResponderInOrderFromOneRead() throws {
        let (channel, handler) = try connectedHandler()
        let recorder = RecordingReplyReceiver()
        let loop = channel.embeddedEventLoop
        let readPromise = loop.makePromise(of: PipelineReplies.self)
        let plain = loop.makePromise(of: RedisValue.self)
        handler.enqueue(RedisCommand("XADD"), responder: .acknowledgement(recorder, tag: 1))
        handler.enqueue(RedisCommand("XADD"), responder: .acknowledgement(recorder, tag: 2))
        handler.enqueue(Self.read, responder: .streamRead(RedisBatchCollector(count: 0, read: true, promise: readPromise)))
        handler.enqueue(RedisCommand("GET"), responder: .promise(plain))
        handler.enqueue(RedisCommand("XADD"), responder: .acknowledgement(recorder, tag: 3))
        loop.run()
        // All five replies in one socket read: an ID, an error, the read, a bulk, an ID.
        let replies = "$3\r\n1-0\r\n-ERR no\r\n" + Self.entryReply + "$5\r\nhello\r\n$3\r\n2-0\r\n"
        try channel.writeInbound(ByteBuffer(string: replies))
        #expect(recorder.events == ["1: null", "2: error(ERR no)", "3: null"])
        let entries = try #require(try readPromise.futureResult.wait().read).get()
        #expect(entries.map(\.id) == ["1-0"] && entries.first?["k"] == ByteBuffer(string: "v"))
        #expect(try plain.futureResult.wait() == .bulkString(ByteBuffer(string: "hello")))
        _ = try? channel.finish()
    }

    @Test func aStreamReadAnsweredReadOnlyClosesTheConnectionAsNotMaster() throws {
        let (channel, handler) = try connectedHandler()
        let loop = channel.embeddedEventLoop
        let readPromise = loop.makePromise(of: PipelineReplies.self)
        let behind = loop.makePromise(of: RedisValue.self)
        handler.enqueue(Self.read, responder: .streamRead(RedisBatchCollector(count: 0, read: true, promise: readPromise)))
        handler.enqueue(RedisCommand("PING"), responder: .promise(behind))
        loop.run()
        try channel.writeInbound(ByteBuffer(string: "-READONLY You can't write against a read only replica.\r\n"))
        guard case .failure(let error) = try readPromise.futureResult.wait().read else {
            Issue.record("the read did not fail")
            return
        }
        #expect(error.code == .server && error.serverErrorPrefix == "READONLY")
        // The failover is noticed: the connection is closed and what was behind the read fails
        // (checked without waiting: an embedded future that never completes would hang).
        let outcome = RecordingReplyReceiver()
        behind.futureResult.whenComplete { result in
            if case .failure(let error as RedisError) = result { outcome.events.append("\(error.code)") }
        }
        #expect(outcome.events == ["notMaster"])
        #expect(!handler.isUsable)
    }
}
