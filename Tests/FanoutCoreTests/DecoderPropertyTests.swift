@testable import FanoutCore
import FanoutRedis
import FanoutTesting
import NIOCore
import Testing

/// Property tests for the decoders of bytes Fanout does not control, with a fixed seed each: the
/// quick, always-on counterpart of the libFuzzer targets in Fuzz/ (Docs/fuzzing.md).
@Suite struct InboundEntryPropertyTests {
    static let identifierCharacters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

    /// A random entry an edge could write: valid IDs of every length, any kind, any payload.
    static func randomEntry(_ random: inout SeededRandom) -> InboundEntry {
        let edge = EdgeID(random.string(1...20, from: identifierCharacters))!
        let connection = ConnectionID("\(edge.rawValue).\(random.string(1...22, from: identifierCharacters + "."))")!
        let kind = [InboundEntry.Kind.message, .open, .close].randomElement(using: &random)!
        let frameType: FrameType = random.chance(0.5) ? .text : .binary
        let payload = frameType == .text ? ByteBuffer(string: random.text(0...40)) : ByteBuffer(bytes: random.bytes(Int.random(in: 0...40, using: &random)))
        return InboundEntry(
            kind: kind, connection: connection, edge: edge, frameType: frameType, receivedAt: Int64.random(in: 0...Int64.max, using: &random),
            user: random.chance(0.5) ? UserID(random.string(1...30, from: identifierCharacters + ".")) : nil, payload: payload)
    }

    static func streamEntry(_ fields: [(name: [UInt8], value: [UInt8])]) -> StreamEntry {
        StreamEntry(id: "1-0", fields: fields.map { StreamEntry.Field(rawName: ByteBuffer(bytes: $0.name), value: ByteBuffer(bytes: $0.value)) })
    }

    @Test func everyEntryAnEdgeWritesDecodesToItself() throws {
        var random = SeededRandom(seed: 1)
        for _ in 0..<3000 {
            let entry = Self.randomEntry(&random)
            let decoded = try InboundEntry(StreamEntry(id: "1-0", fields: entry.fields.map { StreamEntry.Field(name: $0.0, value: $0.1) }))
            #expect(decoded == entry)
        }
    }

    /// Entries with fields removed, added, renamed, reordered or with mutated bytes, and entries of
    /// random fields: each is rejected with a short reason, or decodes to an entry that carries the
    /// entry's own field values and survives its own round trip.
    @Test func aMangledEntryIsRejectedWithAShortReasonOrDecodesConsistently() {
        var random = SeededRandom(seed: 2)
        var accepted = 0
        var rejected = 0
        for iteration in 0..<5000 {
            var fields = Self.randomEntry(&random).fields.map { (name: Array($0.0.utf8), value: Array($0.1.readableBytesView)) }
            if iteration % 10 == 0 {
                fields = (0..<Int.random(in: 1...8, using: &random)).map { _ in
                    (random.bytes(Int.random(in: 0...6, using: &random)), random.bytes(Int.random(in: 0...12, using: &random)))
                }
            }
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                let index = Int.random(in: 0..<fields.count, using: &random)
                switch Int.random(in: 0..<6, using: &random) {
                case 0: fields[index].value = random.mutated(fields[index].value)
                case 1: fields[index].name = random.mutated(fields[index].name)
                case 2 where fields.count > 1: fields.remove(at: index)
                case 3: fields.insert((random.mutated(fields[index].name), random.bytes(Int.random(in: 0...8, using: &random))), at: index)
                case 4: fields.swapAt(index, Int.random(in: 0..<fields.count, using: &random))
                default: fields[index].value = []
                }
            }
            let entry = Self.streamEntry(fields)
            do {
                let decoded = try InboundEntry(entry)
                accepted += 1
                #expect(decoded.connection.rawValue == entry["conn"].map { String(buffer: $0) })
                #expect(decoded.edge.rawValue == entry["edge"].map { String(buffer: $0) })
                #expect(decoded.payload == entry["payload"])
                let again = try? InboundEntry(StreamEntry(id: "1-0", fields: decoded.fields.map { StreamEntry.Field(name: $0.0, value: $0.1) }))
                #expect(again == decoded, "iteration \(iteration): not a round trip")
            } catch {
                rejected += 1
                #expect(!error.reason.isEmpty && error.reason.utf8.count <= 80, "iteration \(iteration): reason \(error.reason)")
                // The reason is logged and stored: printable ASCII only, whatever the entry held.
                #expect(error.reason.unicodeScalars.allSatisfy { (0x20..<0x7F).contains($0.value) }, "iteration \(iteration): reason \(error.reason)")
            }
        }
        // Both outcomes were exercised, or the properties above were checked on nothing.
        #expect(accepted > 500 && rejected > 500, "accepted \(accepted), rejected \(rejected)")
    }
}

@Suite struct OutboundEnvelopePropertyTests {
    static func randomConnection(_ random: inout SeededRandom) -> ConnectionID {
        ConnectionID("\(random.string(1...10, from: "abcXYZ019_-")).\(random.string(1...22, from: "abcXYZ019_-."))")!
    }

    /// A random envelope a worker could publish.
    static func randomEnvelope(_ random: inout SeededRandom) -> OutboundEnvelope {
        switch Int.random(in: 0..<4, using: &random) {
        case 0:
            let except = (0..<Int.random(in: 0...3, using: &random)).map { _ in randomConnection(&random) }
            return .frame(
                random.chance(0.5) ? .text : .binary, ByteBuffer(bytes: random.bytes(Int.random(in: 0...64, using: &random))),
                origin: random.chance(0.5) ? Int64.random(in: 0...Int64.max, using: &random) : nil, except: except)
        case 1:
            let code = [1000, 1003, 1011, 3000, 4000, 4999].randomElement(using: &random)!
            return .close(code: UInt16(code), reason: random.string(0...100, from: "abc XYZ-_:.\n"))
        case 2: return .join(RoomName(random.string(1...128, from: "abcXYZ019._-"))!)
        default: return .leave(RoomName(random.string(1...128, from: "abcXYZ019._-"))!)
        }
    }

    @Test func everyEnvelopeAWorkerPublishesDecodesToItself() throws {
        var random = SeededRandom(seed: 3)
        for _ in 0..<3000 {
            var envelope = Self.randomEnvelope(&random)
            if case .close(let code, let reason) = envelope, reason.hasPrefix(" ") {  // leading spaces separate code and reason
                envelope = .close(code: code, reason: "x" + reason)
            }
            #expect(try OutboundEnvelope(decoding: envelope.encode()) == envelope)
        }
    }

    /// Mutated encodings and random bytes: each is rejected with a short reason, or decodes to an
    /// envelope whose own encoding decodes to it again.
    @Test func aMangledEnvelopeIsRejectedWithAShortReasonOrSurvivesItsOwnRoundTrip() {
        var random = SeededRandom(seed: 4)
        var accepted = 0
        var rejected = 0
        for iteration in 0..<5000 {
            let bytes = iteration % 10 == 0
                ? random.bytes(Int.random(in: 0...40, using: &random))
                : random.mutated(Array(Self.randomEnvelope(&random).encode().readableBytesView))
            do {
                let envelope = try OutboundEnvelope(decoding: ByteBuffer(bytes: bytes))
                accepted += 1
                #expect((try? OutboundEnvelope(decoding: envelope.encode())) == envelope, "iteration \(iteration): \(bytes)")
            } catch {
                rejected += 1
                #expect(!error.reason.isEmpty && error.reason.utf8.count <= 80, "iteration \(iteration): reason \(error.reason)")
            }
        }
        #expect(accepted > 500 && rejected > 500, "accepted \(accepted), rejected \(rejected)")
    }

    /// The edge's fast path for plain frames answers exactly as the general decoder, on valid,
    /// mangled and random envelopes alike (it may decline, never disagree).
    @Test func thePlainFrameFastPathAgreesWithTheGeneralDecoder() {
        var random = SeededRandom(seed: 5)
        var taken = 0
        for iteration in 0..<8000 {
            // Plain frames (what the fast path is for), then mangled ones, then any envelope.
            let plain = OutboundEnvelope.frame(
                random.chance(0.5) ? .text : .binary, ByteBuffer(bytes: random.bytes(Int.random(in: 0...40, using: &random))),
                origin: random.chance(0.8) ? Int64.random(in: 0...Int64.max, using: &random) : nil)
            let bytes = switch iteration % 3 {
            case 0: Array(plain.encode().readableBytesView)
            case 1: random.mutated(Array(plain.encode().readableBytesView))
            default: random.mutated(Array(Self.randomEnvelope(&random).encode().readableBytesView))
            }
            let buffer = ByteBuffer(bytes: bytes)
            guard let fast = OutboundEnvelope.decodePlainFrame(buffer) else { continue }
            taken += 1
            #expect((try? OutboundEnvelope(decodingGeneral: buffer)) == fast, "iteration \(iteration): \(bytes)")
        }
        #expect(taken > 1000, "the fast path decoded only \(taken) envelopes")
    }
}
