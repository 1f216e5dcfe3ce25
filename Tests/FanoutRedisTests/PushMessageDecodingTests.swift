import NIOCore
import Testing

@testable import FanoutRedis

/// A subscriber's messages are taken straight off the reply tape (`ReplyTape.takePushMessage`);
/// every other push is left on the tape, to be taken as a value exactly as before.
@Suite struct PushMessageDecodingTests {
    /// Parses `raw` (one reply) and returns the reader, positioned on it.
    private func parsed(_ raw: String) throws -> RESPReader {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: raw))
        #expect(try reader.nextReply())
        return reader
    }

    @Test func aMessageAndAShardedMessageComeOffTheTapeWithExactBytes() throws {
        for kind in ["message", "smessage"] {
            let reader = try parsed("*3\r\n$\(kind.utf8.count)\r\n\(kind)\r\n$4\r\np:c1\r\n$5\r\na\0b\r\n\r\n")
            let message = try #require(reader.takePushMessage(), "\(kind)")
            #expect(message.channel == ByteBuffer(string: "p:c1"))
            #expect(message.payload == ByteBuffer(bytes: [0x61, 0x00, 0x62, 0x0D, 0x0A]))
            // The tape was reset: the next reply parses on its own.
            try reader.feed(ByteBuffer(string: "+OK\r\n"))
            #expect(try reader.next() == .simpleString("OK"))
        }
    }

    @Test func otherPushesStayOnTheTapeAsValues() throws {
        let others: [(String, RedisValue)] = [
            ("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", .array([.bulkString(ByteBuffer(string: "subscribe")), .bulkString(ByteBuffer(string: "ch")), .integer(1)])),
            ("*2\r\n$4\r\npong\r\n$1\r\nt\r\n", .array([.bulkString(ByteBuffer(string: "pong")), .bulkString(ByteBuffer(string: "t"))])),
            ("*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$2\r\nch\r\n$1\r\nx\r\n", .array(["pmessage", "*", "ch", "x"].map { .bulkString(ByteBuffer(string: $0)) })),
            ("*3\r\n$7\r\nmassage\r\n$2\r\nch\r\n$1\r\nx\r\n", .array(["massage", "ch", "x"].map { .bulkString(ByteBuffer(string: $0)) })),
            ("-ERR wrong\r\n", .error("ERR wrong")),
        ]
        for (raw, value) in others {
            let reader = try parsed(raw)
            #expect(reader.takePushMessage() == nil, "\(value)")
            #expect(reader.takeValue() == value)
        }
    }
}
