import FanoutCore
import NIOCore
import NIOWebSocket

/// Encodes the frames a server sends (RFC 6455 §5.2: FIN set, no mask) into bytes the connection
/// writes as they are.
///
/// The edge does not use NIO's `WebSocketFrameEncoder`: that encoder takes one `WebSocketFrame` per
/// recipient and writes a separate header buffer whenever the payload is shared, which a broadcast
/// always is. Encoding here happens once per message per event loop, and every local member of a
/// room is written the same buffer.
enum WebSocketFrameWriter {
    /// Payloads up to this size are copied behind their header into one buffer (one write, one
    /// iovec); larger ones are written as a header buffer followed by the payload itself.
    static let copyLimit = 16 * 1024

    /// The frame as one buffer: the header followed by the payload.
    static func frame(_ opcode: WebSocketOpcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headerLength(payload.readableBytes) + payload.readableBytes)
        writeHeader(opcode, length: payload.readableBytes, into: &buffer)
        buffer.writeImmutableBuffer(payload)
        return buffer
    }

    /// The header of a frame of `length` payload bytes, alone (for payloads above `copyLimit`).
    static func header(_ opcode: WebSocketOpcode, length: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headerLength(length))
        writeHeader(opcode, length: length, into: &buffer)
        return buffer
    }

    /// A close frame with `code` and a reason cut to 123 bytes.
    static func close(code: UInt16, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(code)
        payload.writeString(CloseCode.truncated(reason))
        return frame(.connectionClose, payload: payload, allocator: allocator)
    }

    private static func headerLength(_ length: Int) -> Int {
        length <= 125 ? 2 : (length <= Int(UInt16.max) ? 4 : 10)
    }

    private static func writeHeader(_ opcode: WebSocketOpcode, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | UInt8(webSocketOpcode: opcode))
        switch length {
        case 0...125:
            buffer.writeInteger(UInt8(length))
        case 126...Int(UInt16.max):
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }
}
