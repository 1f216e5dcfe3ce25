public import NIOCore

/// One RESP2 reply, copied out of hiredis into a Swift value.
///
/// hiredis 0.14 speaks RESP2 only, so there are exactly six cases. Bulk strings stay bytes
/// (`ByteBuffer`): payloads are binary-safe and are never forced through `String`.
public enum RedisValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString(ByteBuffer)
    case null
    case array([RedisValue])
}

extension RedisValue {
    /// The bytes of a bulk or simple string; `nil` for other cases.
    public var bytes: ByteBuffer? {
        switch self {
        case .bulkString(let buffer): return buffer
        case .simpleString(let string): return ByteBuffer(string: string)
        default: return nil
        }
    }

    /// A bulk or simple string decoded as UTF-8, or an integer's decimal form; `nil` otherwise.
    public var string: String? {
        switch self {
        case .bulkString(let buffer): return String(buffer: buffer)
        case .simpleString(let string): return string
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// An integer reply, or a string reply holding a decimal integer (XINFO and XPENDING mix both).
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulkString(let buffer): return Int64(String(buffer: buffer))
        case .simpleString(let string): return Int64(string)
        default: return nil
        }
    }

    /// The elements of an array reply; `nil` for other cases (including a null array).
    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// `true` for RESP's null bulk string or null array.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension RedisValue: CustomStringConvertible {
    /// Describes the shape of a reply without its bytes: payloads may be user data.
    public var description: String {
        switch self {
        case .simpleString(let string): return "simpleString(\(string.count) chars)"
        case .error(let message): return "error(\(message))"
        case .integer(let value): return "integer(\(value))"
        case .bulkString(let buffer): return "bulkString(\(buffer.readableBytes) bytes)"
        case .null: return "null"
        case .array(let values): return "array(\(values.count) elements)"
        }
    }
}
