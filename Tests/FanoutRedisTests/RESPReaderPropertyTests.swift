import FanoutTesting
import NIOCore
import Testing

@testable import FanoutRedis

/// Property tests of hiredis's reader behind `RESPReader`, with fixed seeds: the quick, always-on
/// counterpart of the `FuzzRESPReader` libFuzzer target (Docs/fuzzing.md).
@Suite struct RESPReaderPropertyTests {
    /// Every value read from a stream, and whether the stream ended in a protocol error.
    struct Reading: Equatable {
        var values: [RedisValue] = []
        var failed = false
    }

    /// Feeds `bytes` in chunks of `chunkSize` (the last one shorter), draining `next()` after each
    /// feed as a connection does after each socket read.
    static func read(_ bytes: [UInt8], chunkSize: Int) -> Reading {
        let reader = RESPReader()
        var reading = Reading()
        var offset = 0
        repeat {
            let end = min(offset + chunkSize, bytes.count)
            do {
                try reader.feed(ByteBuffer(bytes: bytes[offset..<end]))
                while let value = try reader.next() { reading.values.append(value) }
            } catch {
                reading.failed = true
                return reading
            }
            offset = end
        } while offset < bytes.count
        return reading
    }

    /// A random reply tree (ASCII status and error text: RESP2 lines cannot hold CR or LF).
    static func randomValue(_ random: inout SeededRandom, depth: Int = 0) -> RedisValue {
        switch Int.random(in: 0..<(depth < 3 ? 6 : 5), using: &random) {
        case 0: return .simpleString(random.string(0...20, from: "OK QUEUED abc-_:0123456789"))
        case 1: return .error(random.string(1...30, from: "ERR WRONGTYPE NOGROUP abc -_:"))
        case 2: return .integer(Int64.random(in: Int64.min...Int64.max, using: &random))
        case 3: return .bulkString(ByteBuffer(bytes: random.bytes(Int.random(in: 0...64, using: &random))))
        case 4: return .null
        default: return .array((0..<Int.random(in: 0...5, using: &random)).map { _ in randomValue(&random, depth: depth + 1) })
        }
    }

    static func encode(_ value: RedisValue) -> [UInt8] {
        switch value {
        case .simpleString(let text): Array("+\(text)\r\n".utf8)
        case .error(let text): Array("-\(text)\r\n".utf8)
        case .integer(let number): Array(":\(number)\r\n".utf8)
        case .bulkString(let bytes): Array("$\(bytes.readableBytes)\r\n".utf8) + Array(bytes.readableBytesView) + Array("\r\n".utf8)
        case .null: Array("$-1\r\n".utf8)
        case .array(let items): Array("*\(items.count)\r\n".utf8) + items.flatMap(encode)
        }
    }

    /// hiredis 0.14 reserves 8 bytes per declared array element on reading `*N` (Docs/fuzzing.md,
    /// finding 2): streams declaring more than 2^20 are left out, as in the fuzz target.
    static func declaresHugeArray(_ bytes: [UInt8]) -> Bool {
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "*") {
            let digits = bytes[(index + 1)...].prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            if digits.count > 7 || (Int(String(decoding: digits, as: UTF8.self)) ?? 0) > 1 << 20 { return true }
        }
        return false
    }

    @Test func repliesSplitAtAnyPointReadAsTheValuesThatWereSent() {
        var random = SeededRandom(seed: 5)
        for _ in 0..<2000 {
            let values = (0..<Int.random(in: 1...6, using: &random)).map { _ in Self.randomValue(&random) }
            let bytes = values.flatMap(Self.encode)
            let chunkSize = Int.random(in: 1...max(1, bytes.count), using: &random)
            #expect(Self.read(bytes, chunkSize: chunkSize) == Reading(values: values), "chunk size \(chunkSize)")
        }
    }

    /// Mutated streams and random bytes, read at once and in random chunk sizes: never a crash, and
    /// the same values and the same failure either way.
    @Test func aMangledStreamReadsTheSameWholeOrInAnyChunks() {
        var random = SeededRandom(seed: 6)
        var failed = 0
        var checked = 0
        for iteration in 0..<4000 {
            let bytes = iteration % 8 == 0
                ? random.bytes(Int.random(in: 0...64, using: &random))
                : random.mutated((0..<Int.random(in: 1...4, using: &random)).flatMap { _ in Self.encode(Self.randomValue(&random)) })
            if Self.declaresHugeArray(bytes) { continue }
            checked += 1
            let whole = Self.read(bytes, chunkSize: max(1, bytes.count))
            let chunkSize = Int.random(in: 1...16, using: &random)
            #expect(Self.read(bytes, chunkSize: chunkSize) == whole, "iteration \(iteration): \(bytes) in \(chunkSize)-byte chunks")
            if whole.failed { failed += 1 }
        }
        // Mutations must reach hiredis's error paths as well as its happy ones.
        #expect(checked > 3500 && failed > 300 && checked - failed > 300, "checked \(checked), failed \(failed)")
    }
}
