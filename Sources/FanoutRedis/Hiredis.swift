// The only file in Fanout that calls into C. hiredis parses replies through callbacks of ours
// (`ReplyTape`) that copy each element into Swift storage as it is parsed: hiredis allocates
// nothing per reply, and nothing it hands out outlives the call.
private import CHiredis
public import NIOCore

/// Turns bytes from a Redis socket into `RedisValue`s with hiredis's own RESP parser.
///
/// hiredis's reader runs with our reply-object functions: instead of allocating a `redisReply`
/// per element (an XREADGROUP entry has 18) and a string per bulk string, it reports each element
/// to a `ReplyTape`, which appends it to flat arrays and its bytes to one buffer. A complete reply
/// becomes a `RedisValue` whose bulk strings are slices of that buffer — or, on the hot paths,
/// stream entries, a pub/sub message's channel and payload, or just "succeeded" (see `ReplyTape`).
///
/// Not thread-safe: owned by one connection handler, used only on that connection's event loop.
/// Once hiredis reports a protocol error the reader refuses all further input, and the owning
/// connection is closed and replaced — a reader in error state is never reused.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    /// Internal for tests: they check which replies take the direct stream-read path.
    let tape = ReplyTape()
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
        guard try nextReply() else { return nil }
        return tape.takeValue()
    }

    /// Parses the next complete reply onto the tape: `false` when more bytes are needed. The caller
    /// then takes it exactly once — `takeValue()`, `takeStreamRead`, `takePushMessage()` or
    /// `dropUnlessError()` (the last two may decline, leaving it for `takeValue()`).
    func nextReply() throws(RedisError) -> Bool {
        if failed { throw RedisError(.protocolError, "reader already failed") }
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw failure() }
        return reply != nil
    }

    /// The reply `nextReply()` parsed, as a value.
    func takeValue() -> RedisValue { tape.takeValue() }

    /// Drops the reply `nextReply()` parsed unless it is an error (`ReplyTape.dropUnlessError`).
    func dropUnlessError() -> Bool { tape.dropUnlessError() }

    /// The reply `nextReply()` parsed if it is a pub/sub message (see `ReplyTape.takePushMessage`);
    /// `nil`, with the reply still there to take as a value, if it is anything else.
    func takePushMessage() -> (channel: ByteBuffer, payload: ByteBuffer)? { tape.takePushMessage() }

    /// The reply `nextReply()` parsed, as the reply of an XREADGROUP or XREAD (see `ReplyTape.takeStreamRead`).
    func takeStreamRead(command: String) -> Result<[StreamEntry], RedisError> { tape.takeStreamRead(command: command) }

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
    /// Whether a slice of `bytes` went out with a value: then the next reply gets a new buffer,
    /// and otherwise (integers, statuses, acknowledgements) this one is written over.
    private var bytesShared = false
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
    /// only now, after its last byte was written; a reply that took any gets a new buffer next.
    func takeValue() -> RedisValue {
        var index = 0
        let value = self.value(at: &index, arena: bytes)
        reset()
        return value
    }

    /// The complete reply as the entries of an XREADGROUP or XREAD reply, then a fresh tape.
    ///
    /// The worker's hot path: its entries are built straight from the tape, where going through a
    /// `RedisValue` tree first made two arrays and a retained slice per field for every entry, all
    /// destroyed again at once — a sixth of a worker's CPU in echo. A reply of any other shape (an
    /// error, a field that is not a bulk string) is decoded through the tree instead, with the same
    /// errors `StreamEntry.decodeRead` gives.
    func takeStreamRead(command: String) -> Result<[StreamEntry], RedisError> {
        if let entries = streamEntries() {
            reset()
            return .success(entries)
        }
        return StreamEntry.readResult(takeValue(), command: command)
    }

    /// A pub/sub `message` or `smessage` push as its channel and payload, then a fresh tape; `nil`,
    /// with the tape untouched, for any other reply.
    ///
    /// The edge's hot path: one per result it delivers. Taken as a value, each was an array and
    /// three retained slices, made and destroyed per message.
    func takePushMessage() -> (channel: ByteBuffer, payload: ByteBuffer)? {
        guard kinds.count == 4, kinds[0] == .array, numbers[0] == 3, kinds[1] == .bulk, kinds[2] == .bulk, kinds[3] == .bulk else { return nil }
        let kindStart = Int(numbers[1])
        let isMessage = bytes.withUnsafeReadableBytes { raw in
            let kind = UnsafeRawBufferPointer(rebasing: raw[kindStart..<(kindStart + lengths[1])])
            return kind.elementsEqual("message".utf8) || kind.elementsEqual("smessage".utf8)
        }
        guard isMessage, let channel = bytes.getSlice(at: Int(numbers[2]), length: lengths[2]),
            let payload = bytes.getSlice(at: Int(numbers[3]), length: lengths[3])
        else { return nil }
        bytesShared = true
        reset()
        return (channel, payload)
    }

    /// `[[key, [[id, [name, value, …] | null], …]], …]` or null, read off the tape; `nil` for any other shape.
    func streamEntries() -> [StreamEntry]? {
        func kind(_ index: Int) -> Kind? { index < kinds.count ? kinds[index] : nil }
        let arena = bytes
        if kind(0) == .null, kinds.count == 1 { return [] }  // the block time passed
        guard kind(0) == .array else { return nil }
        bytesShared = true  // entries hold slices (set before any is taken, even if the shape is refused later)
        var index = 1
        var entries: [StreamEntry] = []
        for _ in 0..<numbers[0] {
            guard kind(index) == .array, numbers[index] == 2, kind(index + 1) == .bulk, kind(index + 2) == .array else { return nil }
            let count = Int(numbers[index + 2])
            index += 3
            entries.reserveCapacity(entries.count + count)
            for _ in 0..<count {
                guard kind(index) == .array, numbers[index] == 2, kind(index + 1) == .bulk,
                    let id = arena.getString(at: Int(numbers[index + 1]), length: lengths[index + 1])
                else { return nil }
                index += 2
                var fields: [StreamEntry.Field] = []
                if kind(index) == .null {
                    index += 1  // deleted while pending
                } else {
                    guard kind(index) == .array, numbers[index] % 2 == 0 else { return nil }
                    let pairs = Int(numbers[index]) / 2
                    index += 1
                    fields.reserveCapacity(pairs)
                    for _ in 0..<pairs {
                        guard kind(index) == .bulk, kind(index + 1) == .bulk,
                            let name = arena.getSlice(at: Int(numbers[index]), length: lengths[index]),
                            let value = arena.getSlice(at: Int(numbers[index + 1]), length: lengths[index + 1])
                        else { return nil }
                        fields.append(StreamEntry.Field(rawName: name, value: value))
                        index += 2
                    }
                }
                entries.append(StreamEntry(id: id, fields: fields))
            }
        }
        return index == kinds.count ? entries : nil
    }

    /// Drops the complete reply unless it is an error, for a caller that needs only to know the
    /// command succeeded (the edge's XADDs: one per client frame). `false`, with the reply still
    /// there to take as a value, for an error.
    func dropUnlessError() -> Bool {
        guard kinds.first != .error else { return false }
        reset()
        return true
    }

    /// Empties the tape for the next reply. Its bytes go into this reply's buffer when no value
    /// holds a slice of it, else into a new buffer sized like this one. The flag only saves the
    /// allocation: `clear()` on a buffer something still shares gives it new storage (copy on
    /// write), so a held slice keeps its bytes either way.
    private func reset() {
        kinds.removeAll(keepingCapacity: true)
        numbers.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        if !bytesShared, bytes.capacity <= 64 * 1024 {
            bytes.clear()  // nothing refers to it: no allocation for this reply
            return
        }
        bytesShared = false
        lastSize = max(64, bytes.writerIndex)
        bytes = ByteBufferAllocator().buffer(capacity: lastSize)
    }

    private func value(at index: inout Int, arena: ByteBuffer) -> RedisValue {
        let position = index
        index += 1
        switch kinds[position] {
        case .bulk:
            bytesShared = true
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
