// The only file in Fanout that calls into C. Everything hiredis allocates is copied into Swift
// values and freed right beside the call that produced it.
private import CHiredis
public import NIOCore

/// Turns bytes from a Redis socket into `RedisValue`s with hiredis's own RESP parser.
///
/// Not thread-safe: owned by one connection handler, used only on that connection's event loop.
/// Once hiredis reports a protocol error the reader refuses all further input, and the owning
/// connection is closed and replaced — a reader in error state is never reused.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>
    private var failed = false

    public init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
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
        var reply: UnsafeMutablePointer<redisReply>?
        guard fanout_reader_get_reply(reader, &reply) == REDIS_OK else { throw failure() }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.copy(reply)
    }

    private func failure() -> RedisError {
        failed = true
        return RedisError(.protocolError, String(cString: fanout_reader_error(reader)))
    }

    /// Copies a reply out of hiredis. An array's bulk strings are copied into one buffer and
    /// handed out as slices of it: one allocation per reply instead of one per string (an
    /// XREADGROUP batch holds 16 per entry). All bytes are written before the first slice is
    /// taken, so no slice ever shares storage that is still being written.
    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        guard reply.pointee.type == REDIS_REPLY_ARRAY else { return scalar(reply) }
        var arena = ByteBufferAllocator().buffer(capacity: bulkBytes(reply))
        writeBulkStrings(reply, into: &arena)
        var offset = arena.readerIndex
        return value(reply, slicing: arena, at: &offset)
    }

    private static func bulkBytes(_ reply: UnsafeMutablePointer<redisReply>) -> Int {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING: return r.len
        case REDIS_REPLY_ARRAY:
            return (0..<r.elements).reduce(0) { total, index in total + (fanout_reply_element(reply, index).map(bulkBytes) ?? 0) }
        default: return 0
        }
    }

    private static func writeBulkStrings(_ reply: UnsafeMutablePointer<redisReply>, into arena: inout ByteBuffer) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            if r.len > 0, let str = r.str { arena.writeBytes(UnsafeRawBufferPointer(start: str, count: r.len)) }
        case REDIS_REPLY_ARRAY:
            for index in 0..<r.elements {
                if let element = fanout_reply_element(reply, index) { writeBulkStrings(element, into: &arena) }
            }
        default: break
        }
    }

    /// The value of `reply`, its bulk strings sliced from `arena` in the order they were written.
    private static func value(_ reply: UnsafeMutablePointer<redisReply>, slicing arena: ByteBuffer, at offset: inout Int) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            defer { offset += r.len }
            return .bulkString(arena.getSlice(at: offset, length: r.len) ?? ByteBuffer())
        case REDIS_REPLY_ARRAY:
            var values: [RedisValue] = []
            values.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                guard let element = fanout_reply_element(reply, index) else { values.append(.null); continue }
                values.append(value(element, slicing: arena, at: &offset))
            }
            return .array(values)
        default:
            return scalar(reply)
        }
    }

    /// A reply that is not an array: a bulk string gets a buffer of its own.
    private static func scalar(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            var buffer = ByteBufferAllocator().buffer(capacity: r.len)
            if r.len > 0, let str = r.str {
                buffer.writeBytes(UnsafeRawBufferPointer(start: str, count: r.len))
            }
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .simpleString(string(r.str, r.len))
        case REDIS_REPLY_ERROR:
            return .error(string(r.str, r.len))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL:
            return .null
        default:
            return .error("unknown reply type \(r.type)")
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}

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
