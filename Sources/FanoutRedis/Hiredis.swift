// The only file in Fanout that calls into C. hiredis parses replies through callbacks of ours
// (`ReplyTape`) that copy each element into Swift storage as it is parsed: hiredis allocates
// nothing per reply, and nothing it hands out outlives the call.
private import CHiredis
public import NIOCore

/// Turns bytes from a Redis socket into `RedisValue`s with hiredis's own RESP parser.
///
/// hiredis's reader runs with our reply-object functions: instead of allocating a `redisReply`
/// per element (an XREADGROUP entry has 18) and a string per bulk string, it reports each element
/// to a `ReplyTape`, which appends it to flat arrays and its bytes to one buffer per reply. A
/// complete reply becomes a `RedisValue` whose bulk strings are slices of that buffer.
///
/// Not thread-safe: owned by one connection handler, used only on that connection's event loop.
/// Once hiredis reports a protocol error the reader refuses all further input, and the owning
/// connection is closed and replaced — a reader in error state is never reused.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private let tape = ReplyTape()
    private var failed = false

    public init() {
        guard let reader = redisReaderCreateWithFunctions(replyTapeFunctions) else { fatalError("hiredis could not allocate a reader") }
        reader.pointee.privdata = Unmanaged.passUnretained(tape).toOpaque()
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Appends raw bytes received from the server.
    public func feed(_ buffer: ByteBuffer) throws(RedisError) {
        if failed { throw RedisError(.protocolError, "reader already failed") }
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw failure() }
    }

    /// The next complete reply, or `nil` when more bytes are needed.
    public func next() throws(RedisError) -> RedisValue? {
        if failed { throw RedisError(.protocolError, "reader already failed") }
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw failure() }
        guard reply != nil else { return nil }
        return tape.takeValue()
    }

    private func failure() -> RedisError {
        failed = true
        return RedisError(.protocolError, String(cString: fanout_reader_error(reader)))
    }
}

/// One reply as hiredis parses it: its elements in parse order (an array before its elements) and
/// the bytes of its strings in one buffer. Reset for every reply.
final class ReplyTape {
    private enum Kind: UInt8 { case bulk, status, error, integer, null, array }
    private var kinds: [Kind] = []
    /// An integer's value, an array's element count, or a string's offset in `bytes`.
    private var numbers: [Int64] = []
    private var lengths: [Int] = []
    private var bytes = ByteBuffer()
    /// The size of the last reply's bytes: the next buffer starts there.
    private var lastSize = 256

    func string(_ type: Int32, _ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) {
        kinds.append(type == REDIS_REPLY_STATUS ? .status : type == REDIS_REPLY_ERROR ? .error : .bulk)
        numbers.append(Int64(bytes.writerIndex))
        lengths.append(length)
        if length > 0, let pointer { bytes.writeBytes(UnsafeRawBufferPointer(start: pointer, count: length)) }
    }

    func array(_ count: Int32) {
        kinds.append(.array)
        numbers.append(Int64(count))
        lengths.append(0)
    }

    func integer(_ value: Int64) {
        kinds.append(.integer)
        numbers.append(value)
        lengths.append(0)
    }

    func null() {
        kinds.append(.null)
        numbers.append(0)
        lengths.append(0)
    }

    /// The complete reply as a value, then a fresh tape. Slices of the reply's buffer are taken
    /// only now, after its last byte was written, and the next reply writes into a new buffer.
    func takeValue() -> RedisValue {
        let arena = bytes
        var index = 0
        let value = self.value(at: &index, arena: arena)
        lastSize = max(64, arena.writerIndex)
        kinds.removeAll(keepingCapacity: true)
        numbers.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        bytes = ByteBufferAllocator().buffer(capacity: lastSize)
        return value
    }

    private func value(at index: inout Int, arena: ByteBuffer) -> RedisValue {
        let position = index
        index += 1
        switch kinds[position] {
        case .bulk:
            return .bulkString(arena.getSlice(at: Int(numbers[position]), length: lengths[position]) ?? ByteBuffer())
        case .status:
            return .simpleString(arena.getString(at: Int(numbers[position]), length: lengths[position]) ?? "")
        case .error:
            return .error(arena.getString(at: Int(numbers[position]), length: lengths[position]) ?? "")
        case .integer:
            return .integer(numbers[position])
        case .null:
            return .null
        case .array:
            let count = Int(numbers[position])
            var elements: [RedisValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(value(at: &index, arena: arena)) }
            return .array(elements)
        }
    }

    fileprivate static func from(_ task: UnsafePointer<redisReadTask>?) -> ReplyTape {
        Unmanaged<ReplyTape>.fromOpaque(task!.pointee.privdata).takeUnretainedValue()
    }
}

/// Any non-null pointer: hiredis keeps the "objects" our functions return only to hand them back
/// (as the reply, or to `freeObject`); the tape holds the real values.
nonisolated(unsafe) private let replyToken = UnsafeMutableRawPointer(bitPattern: 0x1)!

/// hiredis's reply-object functions, reporting every parsed element to the reader's `ReplyTape`.
nonisolated(unsafe) private let replyTapeFunctions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
    let functions = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
    functions.initialize(to: redisReplyObjectFunctions(
        createString: { task, string, length in
            ReplyTape.from(task).string(task!.pointee.type, string, length)
            return replyToken
        },
        createArray: { task, count in
            ReplyTape.from(task).array(count)
            return replyToken
        },
        createInteger: { task, value in
            ReplyTape.from(task).integer(Int64(value))
            return replyToken
        },
        createNil: { task in
            ReplyTape.from(task).null()
            return replyToken
        },
        freeObject: { _ in }))
    return functions
}()

/// hiredis's binary-safe argv formatter, kept as the reference the Swift encoder is tested
/// against (`RESPEncodingTests`): the client writes commands with `RedisCommand.writeRESP`.
enum HiredisCommandFormatter {
    /// The RESP bytes hiredis produces for `command`.
    static func format(_ command: RedisCommand) -> ByteBuffer {
        var buffer = ByteBuffer()
        let argc = command.argumentLengths.count
        command.storage.withUnsafeReadableBytes { storage in
            let base = storage.baseAddress?.assumingMemoryBound(to: CChar.self)
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: argc) { argv in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: argc) { lengths in
                    var offset = 0
                    for (index, length) in command.argumentLengths.enumerated() {
                        argv[index] = base.map { UnsafePointer($0 + offset) }
                        lengths[index] = length
                        offset += length
                    }
                    var target: UnsafeMutablePointer<CChar>?
                    let written = redisFormatCommandArgv(&target, Int32(argc), argv.baseAddress, lengths.baseAddress)
                    guard written > 0, let target else { fatalError("hiredis could not format a command") }
                    defer { redisFreeCommand(target) }
                    buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(written)))
                }
            }
        }
        return buffer
    }
}
