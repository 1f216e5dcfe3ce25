import NIOCore
import Testing

@testable import FanoutRedis

/// The worker's stream reads are decoded straight off the reply tape (`ReplyTape.takeStreamRead`).
/// Each reply here is decoded both ways — off the tape, and as a value through
/// `StreamEntry.decodeRead` — and the two must agree exactly, errors included.
@Suite struct StreamReadDecodingTests {
    /// RESP for a bulk string.
    private static func bulk(_ bytes: [UInt8]) -> [UInt8] { Array("$\(bytes.count)\r\n".utf8) + bytes + Array("\r\n".utf8) }
    private static func bulk(_ text: String) -> [UInt8] { bulk(Array(text.utf8)) }
    private static func array(_ count: Int) -> [UInt8] { Array("*\(count)\r\n".utf8) }

    /// An XREADGROUP reply for one stream: `entries` as (id, flat fields or nil for a deleted entry).
    private static func readReply(stream: String = "p:inbound", _ entries: [(String, [[UInt8]]?)]) -> [UInt8] {
        var raw = array(1) + array(2) + bulk(stream) + array(entries.count)
        for (id, fields) in entries {
            raw += array(2) + bulk(id)
            if let fields {
                raw += array(fields.count)
                for field in fields { raw += bulk(field) }
            } else {
                raw += Array("*-1\r\n".utf8)
            }
        }
        return raw
    }

    /// The reply decoded off the tape, fed in chunks of `chunk` bytes; `direct`: whether it took
    /// the direct path, not the fallback through a value.
    private func offTheTape(_ raw: [UInt8], chunk: Int? = nil, direct: Bool? = true) throws -> Result<[StreamEntry], RedisError> {
        let reader = RESPReader()
        let step = chunk ?? raw.count
        var index = 0
        while index < raw.count {
            try reader.feed(ByteBuffer(bytes: raw[index..<min(index + step, raw.count)]))
            index += step
            if try reader.nextReply() {
                #expect(index >= raw.count, "the reply completed before its last byte")
                if let direct { #expect((reader.tape.streamEntries() != nil) == direct, "direct path taken: \(!direct)") }
                return reader.takeStreamRead(command: "XREADGROUP")
            }
        }
        Issue.record("the reply never completed")
        return .success([])
    }

    /// The same reply decoded through a `RedisValue`, as every other reply is.
    private func throughAValue(_ raw: [UInt8]) throws -> Result<[StreamEntry], RedisError> {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(bytes: raw))
        let value = try #require(try reader.next())
        if case .error(let message) = value { return .failure(RedisError(.server, message, command: "XREADGROUP")) }
        return Result { () throws(RedisError) in try StreamEntry.decodeRead(value) }
    }

    private func expectSameDecoding(_ raw: [UInt8], direct: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try throughAValue(raw)
        for chunk in [raw.count, 7, 1] {
            let actual = try offTheTape(raw, chunk: chunk, direct: direct)
            switch (actual, expected) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "chunk \(chunk)", sourceLocation: sourceLocation)
            case (.failure(let a), .failure(let b)):
                #expect(a.code == b.code && a.message == b.message && a.command == "XREADGROUP", "chunk \(chunk)", sourceLocation: sourceLocation)
            default:
                Issue.record("chunk \(chunk): off the tape \(actual), through a value \(expected)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func entriesComeOffTheTapeWithExactBytesAndOrder() throws {
        let payload: [UInt8] = [0x00, 0xFF, 0x0D, 0x0A, 0xC3, 0x28]
        let raw = Self.readReply([
            ("1-0", [Array("conn".utf8), Array("c1".utf8), Array("payload".utf8), payload]),
            ("1-1", [Array("v".utf8), Array("1".utf8), [0xFF], []]),
        ])
        let entries = try offTheTape(raw).get()
        #expect(entries.map(\.id) == ["1-0", "1-1"])
        #expect(entries[0]["conn"] == ByteBuffer(string: "c1"))
        #expect(entries[0]["payload"] == ByteBuffer(bytes: payload))
        #expect(entries[1].fields.map { Array($0.rawName.readableBytesView) } == [Array("v".utf8), [0xFF]])
        #expect(entries[1].fields[1].value.readableBytes == 0)
        try expectSameDecoding(raw)
    }

    @Test func aTimedOutReadIsNoEntries() throws {
        #expect(try offTheTape(Array("*-1\r\n".utf8)).get() == [])
        try expectSameDecoding(Array("*-1\r\n".utf8))
        try expectSameDecoding(Array("*0\r\n".utf8))
    }

    @Test func anEntryDeletedWhilePendingHasNoFields() throws {
        let raw = Self.readReply([("5-0", nil), ("6-0", [Array("a".utf8), Array("b".utf8)])])
        let entries = try offTheTape(raw).get()
        #expect(entries.map(\.fields.count) == [0, 1])
        try expectSameDecoding(raw)
    }

    @Test func severalStreamsAndEmptyOnesDecodeInOrder() throws {
        var raw = Self.array(2)
        raw += Array(Self.readReply(stream: "a", [("1-0", [Array("x".utf8), Array("1".utf8)])]).dropFirst(4))
        raw += Array(Self.readReply(stream: "b", []).dropFirst(4))
        #expect(try offTheTape(raw).get().map(\.id) == ["1-0"])
        try expectSameDecoding(raw)
    }

    @Test func otherShapesGiveTheSameAnswerAsAValue() throws {
        // An error reply (NOGROUP) is a `.server` failure naming the command.
        let noGroup = Array("-NOGROUP No such key 'p:inbound'\r\n".utf8)
        guard case .failure(let error) = try offTheTape(noGroup, direct: false) else { Issue.record("an error reply decoded as entries"); return }
        #expect(error.code == .server && error.serverErrorPrefix == "NOGROUP")
        try expectSameDecoding(noGroup, direct: false)
        // A field as a simple string or integer, an odd field count, a malformed stream pair: the
        // tree's decoding decides, exactly as before.
        var simple = Self.array(1) + Self.array(2) + Self.bulk("s") + Self.array(1) + Self.array(2) + Self.bulk("1-0") + Self.array(2)
        simple += Array("+name\r\n:7\r\n".utf8)
        try expectSameDecoding(simple, direct: false)
        try expectSameDecoding(Self.readReply([("1-0", [Array("lonely".utf8)])]), direct: false)
        try expectSameDecoding(Self.array(1) + Self.array(1) + Self.bulk("s"), direct: false)
        try expectSameDecoding(Array(":3\r\n".utf8), direct: false)
    }

    @Test func theTapeIsFreshForTheNextReply() throws {
        let reader = RESPReader()
        let first = Self.readReply([("1-0", [Array("k".utf8), Array(repeating: 0x61, count: 300)])])
        try reader.feed(ByteBuffer(bytes: first + Array("+OK\r\n".utf8)))
        #expect(try reader.nextReply())
        let entries = try reader.takeStreamRead(command: "XREADGROUP").get()
        #expect(try reader.next() == .simpleString("OK"))
        #expect(entries.first?["k"] == ByteBuffer(bytes: Array(repeating: 0x61, count: 300)))
    }
}
