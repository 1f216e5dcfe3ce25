import FanoutTesting
import Logging
import NIOPosix
import NIOCore
import Testing

@testable import FanoutRedis

/// Unit tests of hiredis's reader behind `RESPReader`: raw bytes in, values out, no server.
@Suite struct RESPReaderTests {
    private func parse(_ raw: [UInt8], splitEvery: Int? = nil) throws -> [RedisValue] {
        let reader = RESPReader()
        var values: [RedisValue] = []
        let chunk = splitEvery ?? raw.count
        var index = 0
        while index < raw.count {
            try reader.feed(ByteBuffer(bytes: raw[index..<min(index + chunk, raw.count)]))
            while let value = try reader.next() { values.append(value) }
            index += chunk
        }
        return values
    }

    @Test func decodesEveryRESP2Type() throws {
        let raw = Array("+OK\r\n-ERR bad thing\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n".utf8)
        let values = try parse(raw)
        #expect(values == [
            .simpleString("OK"), .error("ERR bad thing"), .integer(-42), .bulkString(ByteBuffer(string: "hello")),
            .null, .null, .array([.integer(1), .array([.bulkString(ByteBuffer())])]),
        ])
    }

    @Test func decodesRepliesSplitAcrossReadsByteByByte() throws {
        let raw = Array("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\na\0b\r\n".utf8)
        let values = try parse(raw, splitEvery: 1)
        #expect(values == [.array([.bulkString(ByteBuffer(string: "message")), .bulkString(ByteBuffer(string: "ch")),
            .bulkString(ByteBuffer(bytes: [0x61, 0x00, 0x62]))])])
    }

    @Test func keepsBulkStringsAsExactBytes() throws {
        let payload: [UInt8] = [0x00, 0xFF, 0xFE, 0x0D, 0x0A, 0xC3, 0x28]  // NUL, invalid UTF-8, CRLF inside
        let raw = Array("$\(payload.count)\r\n".utf8) + payload + Array("\r\n".utf8)
        #expect(try parse(raw) == [.bulkString(ByteBuffer(bytes: payload))])
    }

    @Test func rejectsGarbageAndStaysFailed() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "?what\r\n"))
        #expect(throws: RedisError.self) { _ = try reader.next() }
        // A reader in error state is never reused: it keeps refusing.
        #expect(throws: RedisError.self) { try reader.feed(ByteBuffer(string: "+OK\r\n")) }
    }

    @Test func anAcknowledgementDropsEverythingButAnError() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "$15\r\n1764201234567-0\r\n:3\r\n+OK\r\n-ERR no\r\n"))
        for _ in 0..<3 {
            #expect(try reader.nextReply())
            #expect(reader.dropUnlessError())
        }
        #expect(try reader.nextReply())
        #expect(!reader.dropUnlessError(), "an error is kept")
        #expect(reader.takeValue() == .error("ERR no"))
    }

    @Test func waitsForMoreBytesOnAnIncompleteReply() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "$9\r\nhalf"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: "-full\r\n"))
        #expect(try reader.next() == .bulkString(ByteBuffer(string: "half-full")))
    }
}

@Suite struct RedisCommandEncodingTests {
    @Test func encodesArgvBinarySafe() {
        var command = RedisCommand.xadd("s", maxLength: 10, fields: [("payload", ByteBuffer(bytes: [0x00, 0xFF]))])
        command.append("x")
        var buffer = ByteBuffer()
        command.writeRESP(into: &buffer)
        #expect(buffer == HiredisCommandFormatter.format(command), "the Swift encoder and hiredis's formatter agree")
        let head = "*9\r\n$4\r\nXADD\r\n$1\r\ns\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$2\r\n10\r\n$1\r\n*\r\n$7\r\npayload\r\n$2\r\n"
        let expectedBytes = Array(head.utf8) + [0x00, 0xFF] + Array("\r\n$1\r\nx\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expectedBytes)
    }

    /// The Swift encoder writes exactly what hiredis's `redisFormatCommandArgv` writes, for random
    /// binary arguments of every length class (seeded, so a failure reproduces).
    @Test func matchesHiredisFormatterForRandomCommands() {
        var random = SeededRandom(seed: 0xFA_0017)
        for _ in 0..<500 {
            var command = RedisCommand("CMD\(Int.random(in: 0..<100, using: &random))")
            for _ in 0..<Int.random(in: 0..<12, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: command.append(Int(Int64(bitPattern: random.next()) >> Int.random(in: 0..<64, using: &random)))
                case 1: command.append(String(repeating: "é", count: Int.random(in: 0..<40, using: &random)))
                default: command.append(bytes: (0..<Int.random(in: 0..<70_000, using: &random)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
                }
            }
            var buffer = ByteBuffer()
            command.writeRESP(into: &buffer)
            #expect(buffer == HiredisCommandFormatter.format(command))
        }
    }

    @Test func descriptionNeverShowsArguments() {
        let command = RedisCommand.auth(username: "alice", password: "s3cret-password")
        #expect(command.description == "AUTH (2 arguments)")
        #expect(!String(describing: RedisValue.bulkString(ByteBuffer(string: "s3cret"))).contains("s3cret"))
    }

    @Test func keepsArgumentsSeparate() {
        let command = RedisCommand("SET", ["k", "", "v"])
        #expect(command.arguments.map { String(buffer: $0) } == ["k", "", "v"])
    }
}
