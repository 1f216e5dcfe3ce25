public import NIOCore

/// A Redis command as a value: a name and binary-safe arguments.
///
/// Arguments are packed into one buffer as they are added, so that encoding hands hiredis a
/// single contiguous argv without copying each argument again. `description` prints the name
/// and argument count only — never argument bytes, which may be payloads or passwords.
public struct RedisCommand: Sendable {
    /// The command name as sent (`XADD`, `CLIENT` …).
    public let name: String
    /// Name and arguments back to back; `argumentLengths` splits them.
    var storage: ByteBuffer
    /// The length of each argv element, the name first.
    var argumentLengths: [Int]
    /// For blocking commands (`XREADGROUP … BLOCK`): how long the server may legitimately hold the reply.
    public var blockingTime: Duration = .zero

    /// A command with no arguments yet.
    public init(_ name: String) {
        self.name = name
        self.storage = ByteBuffer()
        self.argumentLengths = []
        self.storage.reserveCapacity(64)
        self.append(name)
    }

    /// A command with room for `arguments` arguments and `bytes` bytes reserved up front, so that
    /// building a hot-path command (XADD of a client frame) allocates twice, not once per growth.
    public init(_ name: String, reservingArguments arguments: Int, bytes: Int) {
        self.name = name
        self.storage = ByteBuffer()
        self.argumentLengths = []
        self.argumentLengths.reserveCapacity(arguments + 1)
        self.storage.reserveCapacity(bytes + name.utf8.count)
        self.append(name)
    }

    /// A command with string arguments.
    public init(_ name: String, _ arguments: [String]) {
        self.init(name)
        for argument in arguments { append(argument) }
    }

    /// The number of arguments, not counting the name.
    public var argumentCount: Int { argumentLengths.count - 1 }

    /// Appends a UTF-8 string argument.
    public mutating func append(_ argument: String) {
        argumentLengths.append(storage.writeString(argument))
    }

    /// Appends a binary argument, byte for byte.
    public mutating func append(_ argument: ByteBuffer) {
        argumentLengths.append(storage.writeImmutableBuffer(argument))
    }

    /// Appends one argument that `write` produces in place (a hot path's payload, with no buffer
    /// of its own).
    public mutating func append(writing write: (inout ByteBuffer) -> Void) {
        let start = storage.writerIndex
        write(&storage)
        argumentLengths.append(storage.writerIndex - start)
    }

    /// Appends raw bytes.
    public mutating func append<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        argumentLengths.append(storage.writeBytes(bytes))
    }

    /// Appends an integer in decimal, written digit by digit (no intermediate `String`).
    public mutating func append(_ argument: Int) {
        append(decimal: Int64(argument))
    }

    /// Appends an integer in decimal, written digit by digit (no intermediate `String`).
    public mutating func append(decimal argument: Int64) {
        // 19 digits and a sign at most; the digits are produced last first, into the end.
        let written = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits -> Int in
            var magnitude = argument.magnitude
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if argument < 0 {
                index -= 1
                digits[index] = UInt8(ascii: "-")
            }
            return storage.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(digits)[index...]))
        }
        argumentLengths.append(written)
    }

    /// The arguments as separate buffers (for tests and diagnostics; not used on the hot path).
    public var arguments: [ByteBuffer] {
        var reader = storage
        let all = argumentLengths.map { reader.readSlice(length: $0)! }
        return Array(all.dropFirst())
    }
}

extension RedisCommand: CustomStringConvertible {
    public var description: String { "\(name) (\(argumentCount) arguments)" }
}

extension RedisCommand: RedisCommandEncodable {
    /// Appends the command as a RESP array of bulk strings (see `ByteBuffer.writeRESPArrayHeader`).
    public func writeRESP(into buffer: inout ByteBuffer) {
        buffer.writeRESPArrayHeader(argumentLengths.count)
        storage.withUnsafeReadableBytes { bytes in
            var offset = 0
            for length in argumentLengths {
                buffer.writeRESPBulk(bytes: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
                offset += length
            }
        }
    }
}
