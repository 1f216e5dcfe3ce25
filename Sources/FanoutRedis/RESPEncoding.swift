public import NIOCore

/// A command that can be written to Redis: a name for errors (never the arguments) and its RESP.
///
/// `RedisCommand` is the general form. A hot path can write its one command straight into the
/// connection's output buffer with a conformer of its own (`InboundEntry`'s XADD), so no argument
/// array and no intermediate buffer exist per command.
public protocol RedisCommandEncodable {
    /// The command name as sent (`XADD` …), for errors and metrics.
    var name: String { get }
    /// For blocking commands (`XREADGROUP … BLOCK`): how long the server may legitimately hold the reply.
    var blockingTime: Duration { get }
    /// Appends the command as a RESP array of bulk strings.
    func writeRESP(into buffer: inout ByteBuffer)
}

extension RedisCommandEncodable {
    public var blockingTime: Duration { .zero }
}

/// RESP request encoding, in Swift.
///
/// A request is an array of bulk strings (`*<n>\r\n` then `$<len>\r\n<bytes>\r\n` per argument):
/// binary-safe by construction, since every argument carries its length. hiredis's
/// `redisFormatCommandArgv` did the same with a `malloc` and `sprintf` per command; writing
/// straight into the connection's output buffer costs neither (decision 0003). hiredis stays the
/// reply parser, and a unit test checks this encoder byte for byte against hiredis's formatter.
extension ByteBuffer {
    /// `*<count>\r\n`: the header of a command with `count` arguments, the name included.
    public mutating func writeRESPArrayHeader(_ count: Int) {
        writeInteger(UInt8(ascii: "*"))
        writeRESPDecimal(Int64(count))
        writeRESPLineEnd()
    }

    /// One bulk string argument: its UTF-8 bytes.
    public mutating func writeRESPBulk(_ string: String) {
        var string = string
        string.withUTF8 { bytes in
            writeRESPBulkHeader(bytes.count)
            writeBytes(bytes)
        }
        writeRESPLineEnd()
    }

    /// One bulk string argument: the readable bytes of `bytes`, as they are.
    public mutating func writeRESPBulk(_ bytes: ByteBuffer) {
        writeRESPBulkHeader(bytes.readableBytes)
        writeImmutableBuffer(bytes)
        writeRESPLineEnd()
    }

    /// One bulk string argument: raw bytes.
    public mutating func writeRESPBulk(bytes: UnsafeRawBufferPointer) {
        writeRESPBulkHeader(bytes.count)
        writeBytes(bytes)
        writeRESPLineEnd()
    }

    /// One bulk string argument: an integer in decimal.
    public mutating func writeRESPBulk(decimal value: Int64) {
        writeRESPBulkHeader(Self.decimalDigits(value))
        writeRESPDecimal(value)
        writeRESPLineEnd()
    }

    /// The bytes `$<length>\r\n` that precede a bulk string of `length` bytes.
    mutating func writeRESPBulkHeader(_ length: Int) {
        writeInteger(UInt8(ascii: "$"))
        writeRESPDecimal(Int64(length))
        writeRESPLineEnd()
    }

    mutating func writeRESPLineEnd() {
        writeInteger(UInt16(0x0D0A))  // "\r\n", big-endian
    }

    /// Writes `value` in decimal, digit by digit into place (no `String`, no allocation).
    public mutating func writeRESPDecimalDigits(_ value: Int64) {
        writeRESPDecimal(value)
    }

    /// Writes `value` in decimal, digit by digit into place (no `String`, no allocation).
    mutating func writeRESPDecimal(_ value: Int64) {
        let count = Self.decimalDigits(value)
        writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            var magnitude = value.magnitude
            var index = count
            repeat {
                index -= 1
                target[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { target[0] = UInt8(ascii: "-") }
            return count
        }
    }

    /// How many bytes `value` takes in decimal, sign included.
    public static func decimalDigits(_ value: Int64) -> Int {
        var magnitude = value.magnitude
        var digits = 1
        while magnitude >= 10 {
            magnitude /= 10
            digits += 1
        }
        return value < 0 ? digits + 1 : digits
    }
}

/// Writes a command's RESP into memory reserved for all of it at once: for a hot-path command
/// (the edge's XADD, one per client frame) the sizes are summed first with the `size` functions,
/// then every piece is copied in with no capacity or bounds check of its own.
public struct RESPRawWriter {
    private let target: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    public private(set) var count = 0

    public init(_ target: UnsafeMutableRawBufferPointer) {
        self.target = target
    }

    /// The size of `*<count>\r\n`.
    public static func arrayHeaderSize(_ count: Int) -> Int { 3 + ByteBuffer.decimalDigits(Int64(count)) }

    /// The size of one bulk string of `length` bytes with its header.
    public static func bulkSize(_ length: Int) -> Int { 5 + ByteBuffer.decimalDigits(Int64(length)) + length }

    /// The size of one bulk string holding `value` in decimal.
    public static func bulkSize(decimal value: Int64) -> Int { bulkSize(ByteBuffer.decimalDigits(value)) }

    public mutating func arrayHeader(_ count: Int) {
        byte(UInt8(ascii: "*"))
        decimal(Int64(count))
        lineEnd()
    }

    public mutating func bulk(_ string: String) {
        var string = string
        string.withUTF8 { bulk(UnsafeRawBufferPointer($0)) }
    }

    public mutating func bulk(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { bulk($0) }
    }

    public mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
        byte(UInt8(ascii: "$"))
        decimal(Int64(bytes.count))
        lineEnd()
        if let base = bytes.baseAddress, bytes.count > 0 {
            (target.baseAddress! + count).copyMemory(from: base, byteCount: bytes.count)
            count += bytes.count
        }
        lineEnd()
    }

    public mutating func bulk(decimal value: Int64) {
        byte(UInt8(ascii: "$"))
        decimal(Int64(ByteBuffer.decimalDigits(value)))
        lineEnd()
        decimal(value)
        lineEnd()
    }

    private mutating func byte(_ value: UInt8) {
        target[count] = value
        count += 1
    }

    private mutating func lineEnd() {
        target[count] = 0x0D
        target[count + 1] = 0x0A
        count += 2
    }

    private mutating func decimal(_ value: Int64) {
        let digits = ByteBuffer.decimalDigits(value)
        var magnitude = value.magnitude
        var index = count + digits
        repeat {
            index -= 1
            target[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 { target[count] = UInt8(ascii: "-") }
        count += digits
    }
}
