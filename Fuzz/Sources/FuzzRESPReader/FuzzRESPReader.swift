// Fuzzes `RESPReader`, hiredis's RESP parser behind Fanout's Swift values: the bytes come from the
// Redis socket, so a broken or hostile server (or anything between) chooses them.
//
// Input: the first byte picks a chunk size (1–256); the rest is the byte stream. The stream is read
// twice — fed at once, and fed chunk by chunk with `next()` drained after each feed, as a
// connection does with socket reads — calling `next()` until it returns nil or throws.
//
// Checks, besides "never crashes": both readings produce the same values and fail (or not) alike,
// so a reply split across reads decodes exactly like one that arrived whole.
//
// Inputs that declare an array of more than `maxDeclaredElements` are skipped: hiredis 0.14 callocs
// 8 bytes per declared element as soon as it reads `*N`, so `*2147483647\r\n` reserves 16 GiB
// (virtual, never resident in a normal build). That is known (Docs/fuzzing.md, finding 2);
// under ASan each such input costs seconds and gigabytes of shadow memory, and libFuzzer stops on
// it as out-of-memory, so without this the fuzzer would report nothing else.
import FanoutRedis
import NIOCore

/// Every value the reader produced, and whether it ended in a protocol error.
struct Reading: Equatable {
    var values: [RedisValue] = []
    var failed = false
}

func read(_ bytes: UnsafeRawBufferPointer, chunkSize: Int) -> Reading {
    let reader = RESPReader()
    var reading = Reading()
    var offset = 0
    repeat {
        let end = min(offset + chunkSize, bytes.count)
        do {
            try reader.feed(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[offset..<end])))
            while let value = try reader.next() { reading.values.append(value) }
        } catch {
            reading.failed = true
            return reading
        }
        offset = end
    } while offset < bytes.count
    return reading
}

let maxDeclaredElements = 1 << 20

/// Whether any `*` in `bytes` is followed by a decimal number above `maxDeclaredElements`
/// (anywhere, payloads included: skipping a few more inputs than needed costs nothing).
func declaresHugeArray(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var index = 0
    while index < bytes.count {
        defer { index += 1 }
        guard bytes[index] == UInt8(ascii: "*") else { continue }
        var value = 0
        var digit = index + 1
        while digit < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[digit]) {
            value = value * 10 + Int(bytes[digit] - UInt8(ascii: "0"))
            if value > maxDeclaredElements { return true }
            digit += 1
        }
    }
    return false
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    if declaresHugeArray(input) { return -1 }  // -1: libFuzzer does not add it to the corpus
    let chunkSize = Int(input[0]) + 1
    let stream = UnsafeRawBufferPointer(rebasing: input[1...])
    let whole = read(stream, chunkSize: max(stream.count, 1))
    let chunked = read(stream, chunkSize: chunkSize)
    precondition(whole == chunked, "chunked reading (\(chunkSize)-byte reads) differs from reading at once")
    return 0
}
