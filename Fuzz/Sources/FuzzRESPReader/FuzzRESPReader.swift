// Fuzzes `RESPReader`, hiredis's RESP parser behind Fanout's Swift values: the bytes come from the
// Redis socket, so a broken or hostile server (or anything between) chooses them.
//
// Input: the first byte picks a chunk size (1–256); the rest is the byte stream. The stream is read
// twice — fed at once, and fed chunk by chunk with `next()` drained after each feed, as a
// connection does with socket reads — calling `next()` until it returns nil or throws.
//
// Checks, besides "never crashes": both readings produce the same values and fail (or not) alike,
// so a reply split across reads decodes exactly like one that arrived whole.
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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let chunkSize = Int(input[0]) + 1
    let stream = UnsafeRawBufferPointer(rebasing: input[1...])
    let whole = read(stream, chunkSize: max(stream.count, 1))
    let chunked = read(stream, chunkSize: chunkSize)
    precondition(whole == chunked, "chunked reading (\(chunkSize)-byte reads) differs from reading at once")
    return 0
}
