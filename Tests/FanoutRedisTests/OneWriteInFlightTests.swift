import NIOCore
import NIOEmbedded
import Testing

@testable import FanoutRedis

/// `RedisConfiguration.oneWriteInFlight`: commands enqueued while the replies to an earlier write
/// are due wait for the last of them and go out as one write; a blocking command in flight, a
/// large held output and a closed connection end the wait. Raw bytes out, raw replies in, through
/// an embedded channel (the edge's real-server tests run the same path end to end).
@Suite struct OneWriteInFlightTests {
    private let recorder = RecordingReplyReceiver()

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

    /// Enqueues an XADD of each value, tagged from `firstTag`, in one event-loop tick.
    private func tick(_ embedded: EmbeddedRedisHandler, _ values: [String], firstTag: Int) {
        for (offset, value) in values.enumerated() {
            embedded.handler.enqueue(Self.append(value), responder: .acknowledgement(recorder, tag: firstTag + offset))
        }
        embedded.loop.run()
    }

    @Test func commandsWaitForTheRepliesInFlightThenGoOutAsOneWrite() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true)
        tick(embedded, ["a"], firstTag: 1)
        #expect(try embedded.writes() == [Self.encoded(["a"])], "nothing in flight: written at the end of the tick")

        tick(embedded, ["b"], firstTag: 2)
        tick(embedded, ["c"], firstTag: 3)
        #expect(try embedded.writes().isEmpty, "a's reply is due: b and c wait")

        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n1-0\r\n"))
        #expect(recorder.events == ["1: null"])
        #expect(try embedded.writes() == [Self.encoded(["b", "c"])], "a's reply is in: b and c go out together")

        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n2-0\r\n-ERR no\r\n"))
        #expect(recorder.events == ["1: null", "2: null", "3: error(ERR no)"])
        tick(embedded, ["d"], firstTag: 4)
        #expect(try embedded.writes() == [Self.encoded(["d"])], "nothing in flight again: no wait")
        _ = try? embedded.channel.finish()
    }

    @Test func theHoldEndsWithTheLastReplyDueNotTheFirst() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true)
        tick(embedded, ["a1", "a2"], firstTag: 1)
        #expect(try embedded.writes() == [Self.encoded(["a1", "a2"])])
        tick(embedded, ["b"], firstTag: 3)
        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n1-0\r\n"))
        #expect(try embedded.writes().isEmpty, "a2's reply is still due: b waits")
        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n2-0\r\n"))
        #expect(try embedded.writes() == [Self.encoded(["b"])])
        #expect(recorder.events == ["1: null", "2: null"])
        _ = try? embedded.channel.finish()
    }

    @Test func withoutTheSettingEveryTickWritesItsOwn() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: false)
        tick(embedded, ["a"], firstTag: 1)
        tick(embedded, ["b"], firstTag: 2)
        #expect(try embedded.writes() == [Self.encoded(["a"]), Self.encoded(["b"])])
        _ = try? embedded.channel.finish()
    }

    @Test func nothingWaitsBehindABlockingCommand() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true)
        let read = RedisCommand.xreadgroup("s", group: "g", consumer: "c", count: 10, block: .seconds(1))
        embedded.handler.enqueue(read, responder: .streamRead(RedisBatchCollector(count: 0, read: true, promise: embedded.loop.makePromise())))
        embedded.loop.run()
        #expect(try embedded.writes().count == 1)
        tick(embedded, ["a"], firstTag: 1)
        #expect(try embedded.writes() == [Self.encoded(["a"])], "the read may block for a second: a does not wait for it")
        _ = try? embedded.channel.finish()
    }

    @Test func holdingResumesOnceTheBlockingReadIsAnswered() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true)
        let read = RedisCommand.xreadgroup("s", group: "g", consumer: "c", count: 10, block: .seconds(1))
        let entries = embedded.loop.makePromise(of: PipelineReplies.self)
        embedded.handler.enqueue(read, responder: .streamRead(RedisBatchCollector(count: 0, read: true, promise: entries)))
        embedded.loop.run()
        tick(embedded, ["a"], firstTag: 1)
        #expect(try embedded.writes().count == 2, "the read and a, a not held behind the read")
        try embedded.channel.writeInbound(ByteBuffer(string: "*-1\r\n$3\r\n1-0\r\n"))  // the read timed out; a's ID
        #expect(try entries.futureResult.wait().read.map { try $0.get().isEmpty } == true)
        tick(embedded, ["b"], firstTag: 2)
        tick(embedded, ["c"], firstTag: 3)
        #expect(try embedded.writes() == [Self.encoded(["b"])], "no blocking command in flight any more: c waits for b's reply")
        _ = try? embedded.channel.finish()
    }

    @Test func aLargeHeldOutputIsWrittenWithoutWaiting() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true)
        tick(embedded, ["a"], firstTag: 1)
        _ = try embedded.writes()
        let large = Array(repeating: String(repeating: "x", count: 16 * 1024), count: 4)
        tick(embedded, large, firstTag: 2)
        #expect(try embedded.writes() == [Self.encoded(large)], "64 KiB held: written before a's reply")
        #expect(recorder.events.isEmpty)
        _ = try? embedded.channel.finish()
    }

    @Test func aLargeHeldOutputDoesNotWaitForTheCoalescingDelayEither() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true, writeCoalescing: .milliseconds(1))
        tick(embedded, ["a"], firstTag: 1)
        embedded.loop.advanceTime(by: .milliseconds(1))
        #expect(try embedded.writes() == [Self.encoded(["a"])])
        let large = Array(repeating: String(repeating: "x", count: 16 * 1024), count: 4)
        tick(embedded, large, firstTag: 2)
        #expect(try embedded.writes() == [Self.encoded(large)], "written with no time passing")
        _ = try? embedded.channel.finish()
    }

    @Test func aHoldReleasedDuringTheCoalescingDelayWaitsOutTheRestOfIt() throws {
        // The linger applies from the first held command's enqueue, as without a hold: a reply
        // arriving sooner must not send the few commands of one round trip on their own.
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true, writeCoalescing: .milliseconds(1))
        tick(embedded, ["a"], firstTag: 1)
        embedded.loop.advanceTime(by: .milliseconds(1))
        #expect(try embedded.writes() == [Self.encoded(["a"])])
        tick(embedded, ["b"], firstTag: 2)
        embedded.loop.advanceTime(by: .microseconds(600))
        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n1-0\r\n"))
        #expect(recorder.events == ["1: null"])
        #expect(try embedded.writes().isEmpty, "a's reply is in, but b has waited 0.6 ms of the 1 ms")
        tick(embedded, ["c"], firstTag: 3)
        #expect(try embedded.writes().isEmpty, "c joins the waiting write")
        embedded.loop.advanceTime(by: .microseconds(400))
        #expect(try embedded.writes() == [Self.encoded(["b", "c"])], "b has waited 1 ms: b and c go out together")
        _ = try? embedded.channel.finish()
    }

    @Test func aLargeOutputDoesNotWaitOutTheRestOfTheDelay() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true, writeCoalescing: .milliseconds(1))
        tick(embedded, ["a"], firstTag: 1)
        embedded.loop.advanceTime(by: .milliseconds(1))
        _ = try embedded.writes()
        tick(embedded, ["b"], firstTag: 2)
        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n1-0\r\n"))
        #expect(try embedded.writes().isEmpty, "b waits out the delay, until 2 ms")
        embedded.loop.advanceTime(by: .microseconds(500))
        let large = Array(repeating: String(repeating: "x", count: 16 * 1024), count: 4)
        tick(embedded, large, firstTag: 3)
        #expect(try embedded.writes() == [Self.encoded(["b"] + large)], "64 KiB: written with no time passing")
        try embedded.channel.writeInbound(ByteBuffer(string: String(repeating: "$3\r\n2-0\r\n", count: 5)))
        #expect(recorder.events.count == 6, "every reply due is in: d waits for the delay alone")
        tick(embedded, ["d"], firstTag: 7)
        embedded.loop.advanceTime(by: .microseconds(500))
        #expect(try embedded.writes().isEmpty, "b's timer (2 ms) was cancelled: it does not cut d's delay short")
        embedded.loop.advanceTime(by: .microseconds(500))
        #expect(try embedded.writes() == [Self.encoded(["d"])])
        _ = try? embedded.channel.finish()
    }

    @Test func anAdaptiveDelayNotYetFoundToPayAddsNoWait() throws {
        // A fresh governor has not measured anything: no linger, so commands go out at the end of
        // the tick and a released hold goes out with the reply, as with no delay configured.
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true, writeCoalescing: .milliseconds(1), coalescingAdapts: true)
        tick(embedded, ["a"], firstTag: 1)
        #expect(try embedded.writes() == [Self.encoded(["a"])], "written at the end of the tick")
        tick(embedded, ["b"], firstTag: 2)
        #expect(try embedded.writes().isEmpty, "a's reply is due: b waits for it")
        try embedded.channel.writeInbound(ByteBuffer(string: "$3\r\n1-0\r\n"))
        #expect(try embedded.writes() == [Self.encoded(["b"])], "released with the reply, no delay")
        _ = try? embedded.channel.finish()
    }

    @Test func aClosedConnectionFailsTheHeldCommands() throws {
        let embedded = try EmbeddedRedisHandler(oneWriteInFlight: true)
        tick(embedded, ["a"], firstTag: 1)
        tick(embedded, ["b"], firstTag: 2)
        #expect(try embedded.writes().count == 1)
        embedded.channel.pipeline.fireChannelInactive()
        #expect(recorder.events == ["1: failed connectionClosed", "2: failed connectionClosed"])
        #expect(try embedded.writes().isEmpty, "the held write never goes out")
        _ = try? embedded.channel.finish()
    }
}
