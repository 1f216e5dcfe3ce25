import FanoutRedis
import FanoutTesting
import NIOCore
import Testing

@testable import FanoutCore

@Suite struct InboundEntryTests {
    let connection = ConnectionID("e1.AAAAAAAAAAAAAAAAAAAAAA")!
    let edge = EdgeID("e1")!

    @Test func goldenFields() {
        let entry = InboundEntry(
            kind: .message, connection: connection, edge: edge, frameType: .binary, receivedAt: 1_700_000_000_123_456,
            user: UserID("alice"), payload: ByteBuffer(bytes: [0, 1, 255]))
        let fields = entry.fields.map { "\($0.0)=\(String(decoding: $0.1.readableBytesView, as: UTF8.self))" }
        #expect(fields == [
            "v=1", "kind=message", "conn=e1.AAAAAAAAAAAAAAAAAAAAAA", "edge=e1", "type=binary", "at=1700000000123456",
            "user=alice", "payload=\u{0}\u{1}\u{FFFD}",
        ])
        #expect(entry.fields.last?.1 == ByteBuffer(bytes: [0, 1, 255]))
    }

    @Test(arguments: [UserID("alice"), nil])
    func theHotPathXADDIsTheSameCommandAsOneBuiltFromTheFields(user: UserID?) {
        let entry = InboundEntry(
            kind: .message, connection: connection, edge: edge, frameType: .text, receivedAt: 1_700_000_000_123_456,
            user: user, payload: ByteBuffer(string: "héllo"))
        let direct = entry.xadd(to: "p:inbound", maxLength: 1_000_000)
        let fromFields = RedisCommand.xadd("p:inbound", maxLength: 1_000_000, fields: entry.fields)
        #expect(direct.arguments == fromFields.arguments)
        #expect(direct.arguments.map { String(buffer: $0) }.prefix(6) == ["p:inbound", "MAXLEN", "~", "1000000", "*", "v"])
    }

    @Test(arguments: [("0", Int64(0)), ("1700000000123456", 1_700_000_000_123_456), ("999999999999999999", 999_999_999_999_999_999), ("9223372036854775807", Int64.max)])
    func decimalFieldsAreReadFromTheBytes(text: String, value: Int64) {
        #expect(InboundEntry.decimal(ByteBuffer(string: text)) == value)
    }

    @Test(arguments: ["", "-1", "+1", "1.5", "1e3", " 1", "1 ", "9223372036854775808", "12345678901234567890", "٣"])
    func malformedDecimalFieldsAreRejected(text: String) {
        #expect(InboundEntry.decimal(ByteBuffer(string: text)) == nil)
    }

    @Test func utf8IsValidatedInPlace() {
        #expect(InboundEntry.isValidUTF8(ByteBuffer(string: "héllo 🎉")))
        #expect(InboundEntry.isValidUTF8(ByteBuffer()))
        for invalid: [UInt8] in [[0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x8E], [0xFF], [0xC0, 0xAF]] {
            #expect(!InboundEntry.isValidUTF8(ByteBuffer(bytes: invalid)), "\(invalid)")
        }
    }

    @Test func roundTripsThroughAStreamEntry() throws {
        let entry = InboundEntry(kind: .open, connection: connection, edge: edge, receivedAt: 42)
        let stream = StreamEntry(id: "1-1", fields: entry.fields.map { .init(name: $0.0, value: $0.1) })
        #expect(try InboundEntry(stream) == entry)
    }

    @Test(arguments: [
        ([("v", "1")], "missing field 'kind'"),
        ([("v", "2")], "unsupported format version '2'"),
        ([("v", "1"), ("kind", "shout")], "field 'kind' is not message, open or close"),
        ([("v", "1"), ("kind", "message"), ("conn", "bad:id")], "field 'conn' is not a valid connection ID"),
        ([("v", "1"), ("kind", "message"), ("conn", "e.x"), ("edge", "e"), ("type", "text"), ("at", "soon")], "field 'at' is not a timestamp"),
        ([("v", "1"), ("kind", "message"), ("conn", "e.x"), ("edge", "e"), ("type", "text"), ("at", "1")], "missing field 'payload'"),
    ])
    func namesWhatIsWrongWithAHostileEntry(_ fields: [(String, String)], _ reason: String) {
        let stream = StreamEntry(id: "1-1", fields: fields.map { .init(name: $0.0, value: ByteBuffer(string: $0.1)) })
        #expect(throws: EnvelopeError(reason)) { try InboundEntry(stream) }
    }

    @Test func rejectsInvalidUTF8InATextMessage() {
        var fields = InboundEntry(kind: .message, connection: connection, edge: edge, receivedAt: 1).fields
        fields[fields.count - 1].1 = ByteBuffer(bytes: [0xC3, 0x28])
        let stream = StreamEntry(id: "1-1", fields: fields.map { .init(name: $0.0, value: $0.1) })
        #expect(throws: EnvelopeError("text payload is not valid UTF-8")) { try InboundEntry(stream) }
    }
}

@Suite struct OutboundEnvelopeTests {
    @Test func goldenBytes() {
        let a = ConnectionID("e1.a")!, b = ConnectionID("e2.b")!
        #expect(String(buffer: OutboundEnvelope.frame(.text, ByteBuffer(string: "hi"), origin: 7, except: [a, b]).encode())
            == "F1 text 7 e1.a,e2.b\nhi")
        #expect(String(buffer: OutboundEnvelope.frame(.binary, ByteBuffer(string: "x")).encode()) == "F1 binary - -\nx")
        #expect(String(buffer: OutboundEnvelope.close(code: 4000, reason: "bye now").encode()) == "F1 close - -\n4000 bye now")
        #expect(String(buffer: OutboundEnvelope.join(RoomName("lobby")!).encode()) == "F1 join - -\nlobby")
        #expect(String(buffer: OutboundEnvelope.leave(RoomName("lobby")!).encode()) == "F1 leave - -\nlobby")
    }

    @Test func goldenBytesOfTheOffsetForm() {
        let position = StreamPosition(epoch: 1_712_345_678_123_456, offset: 42)
        #expect(String(buffer: OutboundEnvelope.frame(.text, ByteBuffer(string: "hi"), origin: 7, position: position).encode())
            == "F1 text 7 - 1712345678123456 42\nhi")
        #expect(String(buffer: OutboundEnvelope.join(RoomName("lobby")!, from: position).encode()) == "F1 join - - 1712345678123456 42\nlobby")
        // What the history script appends the position and payload to.
        #expect(String(buffer: OutboundEnvelope.header(.binary, origin: nil, except: [ConnectionID("e1.a")!])) == "F1 binary - e1.a")
    }

    @Test(arguments: [
        "F1 text 7 - 1712345678123456 42\nhi", "F1 binary - - 1 1\n", "F1 text 123456789012345678 - 999999999999999999 0\n{}",
        "F1 text - - 5 6\nline1\nline2",
    ])
    func theFastPathReadsTheOffsetFormAsTheGeneralDecoderDoes(_ raw: String) throws {
        let fast = OutboundEnvelope.decodePlainFrame(ByteBuffer(string: raw))
        #expect(fast != nil)
        #expect(try fast == OutboundEnvelope(decodingGeneral: ByteBuffer(string: raw)))
    }

    @Test(arguments: ["F1 text - - 1\nx", "F1 text - - 1 \nx", "F1 text - - a 1\nx", "F1 text - - 1 -1\nx", "F1 close - - 1 2\n1000 x", "F1 leave - - 1 2\nr"])
    func rejectsAMalformedPosition(_ raw: String) {
        #expect(throws: EnvelopeError.self) { try OutboundEnvelope(decoding: ByteBuffer(string: raw)) }
    }

    @Test(arguments: [
        OutboundEnvelope.frame(.binary, ByteBuffer(bytes: [0, 10, 13, 255]), origin: nil, except: []),
        .frame(.text, ByteBuffer(string: "line1\nline2"), origin: 123, except: [ConnectionID("e.x")!]),
        .close(code: 1000, reason: ""), .close(code: 4008, reason: "slow consumer"), .join(RoomName("r")!),
        .frame(.text, ByteBuffer(string: "{}"), origin: 5, except: [ConnectionID("e.x")!], position: StreamPosition(epoch: 9, offset: 3)),
        .join(RoomName("r")!, from: StreamPosition(epoch: 1, offset: 0)),
    ])
    func roundTrips(_ envelope: OutboundEnvelope) throws {
        #expect(try OutboundEnvelope(decoding: envelope.encode()) == envelope)
    }

    @Test(arguments: ["", "hello", "F2 text - -\nx", "F1 text 0 -,\n", "F1 text - -,\nx", "F1 shout - -\nx", "F1 close - -\n999 no", "F1 join - -\nbad room", "F1 text x -\n"])
    func rejectsForeignMessages(_ raw: String) {
        #expect(throws: EnvelopeError.self) { try OutboundEnvelope(decoding: ByteBuffer(string: raw)) }
    }
}

@Suite struct IdentifierTests {
    @Test func connectionIDsAreUnguessableAndNameTheirEdge() {
        let edge = EdgeID("edge-7")!
        let ids = (0..<1000).map { _ in ConnectionID.generate(on: edge) }
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.edge == edge)
            #expect(id.rawValue.count == "edge-7.".count + 22)  // 128 bits in unpadded base64url
            #expect(ConnectionID(id.rawValue) == id)
        }
    }

    @Test(arguments: ["", "a:b", "a b", "room*", String(repeating: "x", count: 129), "ü"])
    func rejectsNamesThatCouldEscapeTheirKey(_ raw: String) {
        #expect(RoomName(raw) == nil && ConnectionID(raw) == nil && UserID(raw) == nil)
    }

    @Test(arguments: ["-", "e1", ".x", "e1.", "e:1.x"])
    func connectionIDsMustNameTheirEdge(_ raw: String) {
        #expect(ConnectionID(raw) == nil)
    }

    @Test func keySpaceNamesEverything() {
        let keys = KeySpace(prefix: "p")
        #expect(keys.inbound == "p:inbound" && keys.deadLetters == "p:dead" && keys.edges == "p:edges")
        #expect(keys.connection(ConnectionID("e.x")!) == "p:conn:e.x")
        #expect(keys.room(RoomName("lobby")!) == "p:room:lobby")
        #expect(keys.user(UserID("alice")!) == "p:user:alice")
        #expect(keys.roomMembers(RoomName("lobby")!) == "p:presence:room:lobby")
    }
}

@Suite struct ConfigurationReaderTests {
    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() throws {
        let reader = ConfigurationReader(
            flags: ["FANOUT_PORT": "1"], environment: ["FANOUT_PORT": "2", "FANOUT_HOST": "env-host"],
            file: ["FANOUT_PORT": "3", "FANOUT_HOST": "file-host", "FANOUT_KEY_PREFIX": "filed"])
        #expect(try reader.int("FANOUT_PORT", default: 4) == 1)
        #expect(reader.string("FANOUT_HOST") == "env-host")
        #expect(reader.string("FANOUT_KEY_PREFIX") == "filed")
        #expect(try reader.int("FANOUT_CONCURRENCY", default: 64) == 64)
    }

    @Test func parsesTheFileFormat() throws {
        let values = try ConfigurationReader.parse("# comment\n\nFANOUT_PORT = 9000\nFANOUT_HOST=\"0.0.0.0\"\n", origin: "f")
        #expect(values == ["FANOUT_PORT": "9000", "FANOUT_HOST": "0.0.0.0"])
        #expect(throws: ConfigurationError.self) { try ConfigurationReader.parse("no equals sign", origin: "f") }
    }

    @Test func badValuesAreOneClearLine() {
        let reader = ConfigurationReader(flags: ["FANOUT_PORT": "eighty", "FANOUT_REDIS_URL": "http://x"])
        #expect(throws: ConfigurationError("FANOUT_PORT: expected an integer in 0...65535, got 'eighty'")) {
            try reader.int("FANOUT_PORT", default: 8080, range: 0...65535)
        }
        #expect(throws: ConfigurationError.self) { try CommonConfiguration(reader: reader) }
    }
}

/// The edge's hot-path XADD writes exactly the bytes of the readable field table in `InboundEntry`.
@Suite struct InboundEntryXADDTests {
    @Test func theHotPathEncoderWritesTheSameCommandAsTheFieldTable() {
        var random = SeededRandom(seed: 0x0ADD)
        for _ in 0..<500 {
            let entry = InboundEntryPropertyTests.randomEntry(&random)
            let maxLength: Int? = random.chance(0.5) ? Int.random(in: 1000...10_000_000, using: &random) : nil
            var direct = ByteBuffer()
            InboundEntry.XADD(entry, stream: "fanout:inbound", maxLength: maxLength).writeRESP(into: &direct)
            var viaTable = ByteBuffer()
            entry.xadd(to: "fanout:inbound", maxLength: maxLength).writeRESP(into: &viaTable)
            #expect(direct == viaTable)
        }
    }
}
