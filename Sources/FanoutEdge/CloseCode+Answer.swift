import FanoutCore
import NIOCore

extension CloseCode {
    /// The code to answer a client's close frame with (RFC 6455 §5.5.1, §7.4): its own code when
    /// valid, 1000 when it sent none, 1002 for an invalid code or a 1-byte body, 1007 for a
    /// reason that is not UTF-8.
    static func answer(toClose payload: ByteBuffer) -> UInt16 {
        var payload = payload
        guard payload.readableBytes > 0 else { return normal }
        guard let code = payload.readInteger(as: UInt16.self) else { return protocolError }
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: break
        default: return protocolError
        }
        guard payload.withUnsafeReadableBytes(UTF8Validator.isValid) else { return invalidPayload }
        return code
    }
}
