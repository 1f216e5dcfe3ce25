import FanoutCore
import NIOCore
import NIOWebSocket

/// A data frame encoded for clients, written as it is to every connection it goes to.
///
/// Built once per message per event loop: a room broadcast's members share its buffers (NIO
/// writes the same storage to each socket), and no member costs a copy.
struct OutboundFrame {
    let type: FrameType
    /// The header and payload together, or the header alone for a payload above
    /// `WebSocketFrameWriter.copyLimit`.
    let head: ByteBuffer
    /// The payload itself, when it was too large to copy behind its header.
    let tail: ByteBuffer?
    let payloadBytes: Int
    /// When the edge received the message that caused this one (µs since 1970), for the latency metric.
    let origin: Int64?

    init(_ type: FrameType, _ payload: ByteBuffer, origin: Int64?, allocator: ByteBufferAllocator) {
        let opcode: WebSocketOpcode = type == .text ? .text : .binary
        self.type = type
        self.payloadBytes = payload.readableBytes
        self.origin = origin
        if payload.readableBytes <= WebSocketFrameWriter.copyLimit {
            head = WebSocketFrameWriter.frame(opcode, payload: payload, allocator: allocator)
            tail = nil
        } else {
            head = WebSocketFrameWriter.header(opcode, length: payload.readableBytes, allocator: allocator)
            tail = payload
        }
    }

    /// Bytes this frame adds to a connection's outbound buffer.
    var wireBytes: Int { head.readableBytes + (tail?.readableBytes ?? 0) }
}
