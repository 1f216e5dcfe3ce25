import NIOCore

/// The bytes a bench message carries, so every reply can be checked without remembering what was
/// sent: `#` + connection (7 digits) + sequence (12 digits) + intended send time (20 digits, ns on
/// the monotonic clock), padded with `x` to the requested size. ASCII, so it is valid UTF-8 text.
///
/// Encoding and parsing touch the buffer's bytes directly: no `String`, no Foundation, no
/// allocation beyond the `ByteBuffer` itself, so the load generator is not the bottleneck.
enum BenchPayload {
    /// Header bytes: the smallest payload that carries a sequence number and a send time.
    static let headerBytes = 40

    /// Writes one payload of `size` bytes (at least ``headerBytes``) into `buffer`.
    static func write(connection: Int, sequence: UInt64, time: UInt64, size: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "#"))
        writeDigits(UInt64(connection), count: 7, into: &buffer)
        writeDigits(sequence, count: 12, into: &buffer)
        writeDigits(time, count: 20, into: &buffer)
        if size > headerBytes { buffer.writeRepeatingByte(UInt8(ascii: "x"), count: size - headerBytes) }
    }

    /// A new buffer holding one payload.
    static func make(connection: Int, sequence: UInt64, time: UInt64, size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: max(size, headerBytes))
        write(connection: connection, sequence: sequence, time: time, size: size, into: &buffer)
        return buffer
    }

    /// The fields of a payload, and whether the whole payload is exactly what ``write`` produces
    /// for them at `size` bytes (any other byte counts as a mismatch).
    struct Fields: Equatable {
        var connection: Int
        var sequence: UInt64
        var time: UInt64
    }

    /// Parses `bytes` as a payload of exactly `size` bytes; `nil` when anything differs.
    static func parse(_ bytes: ByteBufferView, size: Int) -> Fields? {
        guard bytes.count == max(size, headerBytes) else { return nil }
        var index = bytes.startIndex
        guard bytes[index] == UInt8(ascii: "#") else { return nil }
        index += 1
        guard let connection = readDigits(bytes, at: &index, count: 7),
            let sequence = readDigits(bytes, at: &index, count: 12),
            let time = readDigits(bytes, at: &index, count: 20)
        else { return nil }
        while index < bytes.endIndex {
            guard bytes[index] == UInt8(ascii: "x") else { return nil }
            index += 1
        }
        return Fields(connection: Int(connection), sequence: sequence, time: time)
    }

    /// Parses the header alone from `bytes` (a payload embedded in a larger message, e.g. chat text).
    static func parseHeader(_ bytes: ByteBufferView, at start: ByteBufferView.Index) -> Fields? {
        guard bytes.endIndex - start >= headerBytes, bytes[start] == UInt8(ascii: "#") else { return nil }
        var index = start + 1
        guard let connection = readDigits(bytes, at: &index, count: 7),
            let sequence = readDigits(bytes, at: &index, count: 12),
            let time = readDigits(bytes, at: &index, count: 20)
        else { return nil }
        return Fields(connection: Int(connection), sequence: sequence, time: time)
    }

    private static func writeDigits(_ value: UInt64, count: Int, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            var remaining = value
            for offset in stride(from: count - 1, through: 0, by: -1) {
                pointer[offset] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            }
            return count
        }
    }

    private static func readDigits(_ bytes: ByteBufferView, at index: inout ByteBufferView.Index, count: Int) -> UInt64? {
        var value: UInt64 = 0
        for _ in 0..<count {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
            index += 1
        }
        return value
    }
}
