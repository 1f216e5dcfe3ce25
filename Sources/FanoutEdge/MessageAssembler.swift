import FanoutCore
import NIOCore
import NIOWebSocket

/// Turns data frames into whole messages (RFC 6455 §5.4 fragmentation), enforcing the message
/// size limit and validating text as UTF-8 while the frames arrive.
///
/// A value owned by one connection handler. An unfragmented message — nearly every message — is
/// passed through as the frame's own payload, not copied; only fragments are joined.
struct MessageAssembler {
    enum Outcome {
        /// A fragment was taken; the message is not complete yet.
        case incomplete
        /// A whole message.
        case message(FrameType, ByteBuffer)
        /// The client broke a rule; close with `code`.
        case violation(code: UInt16, reason: String)
    }

    let maxBytes: Int
    /// The message being joined, while a fragmented one is in progress.
    private var type: FrameType?
    private var joined: ByteBuffer?
    private var utf8 = UTF8Validator()

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    /// Takes one data frame (`text`, `binary` or `continuation`) with its unmasked payload.
    mutating func receive(_ opcode: WebSocketOpcode, fin: Bool, payload: ByteBuffer, allocator: ByteBufferAllocator) -> Outcome {
        switch opcode {
        case .text, .binary:
            guard type == nil else { return .violation(code: CloseCode.protocolError, reason: "expected a continuation frame") }
            let frameType: FrameType = opcode == .text ? .text : .binary
            guard payload.readableBytes <= maxBytes else { return .violation(code: CloseCode.messageTooBig, reason: "message too big") }
            if fin {
                if frameType == .text, !payload.withUnsafeReadableBytes(UTF8Validator.isValid) {
                    return .violation(code: CloseCode.invalidPayload, reason: "invalid UTF-8")
                }
                return .message(frameType, payload)
            }
            type = frameType
            utf8 = UTF8Validator()
            var buffer = allocator.buffer(capacity: min(maxBytes, max(payload.readableBytes * 2, 256)))
            buffer.writeImmutableBuffer(payload)
            joined = buffer
            return checkText(payload, final: false)
        case .continuation:
            guard let frameType = type, var buffer = joined else {
                return .violation(code: CloseCode.protocolError, reason: "continuation frame without a message")
            }
            guard buffer.readableBytes + payload.readableBytes <= maxBytes else {
                return .violation(code: CloseCode.messageTooBig, reason: "message too big")
            }
            joined = nil  // uniquely referenced while appended to
            buffer.writeImmutableBuffer(payload)
            if case .violation(let code, let reason) = checkText(payload, final: fin) {
                return .violation(code: code, reason: reason)
            }
            guard fin else {
                joined = buffer
                return .incomplete
            }
            type = nil
            return .message(frameType, buffer)
        default:
            return .violation(code: CloseCode.protocolError, reason: "not a data frame")
        }
    }

    private mutating func checkText(_ payload: ByteBuffer, final: Bool) -> Outcome {
        guard type == .text else { return .incomplete }
        let valid = payload.withUnsafeReadableBytes { utf8.feed($0) }
        if !valid || (final && !utf8.isComplete) {
            return .violation(code: CloseCode.invalidPayload, reason: "invalid UTF-8")
        }
        return .incomplete
    }
}
