/// The WebSocket close codes Fanout sends, each documented in the README's table of answers.
public enum CloseCode {
    /// Normal closure (a handler asked to close without a code).
    public static let normal: UInt16 = 1000
    /// The edge is shutting down; reconnect (to another edge).
    public static let goingAway: UInt16 = 1001
    /// The client broke the WebSocket protocol.
    public static let protocolError: UInt16 = 1002
    /// A text frame was not valid UTF-8.
    public static let invalidPayload: UInt16 = 1007
    /// Policy violation: the client kept exceeding its rate limit.
    public static let policyViolation: UInt16 = 1008
    /// A message exceeded the maximum message size.
    public static let messageTooBig: UInt16 = 1009
    /// The edge failed unexpectedly.
    public static let internalError: UInt16 = 1011
    /// Try again later: Redis is unavailable or the system is overloaded.
    public static let tryAgainLater: UInt16 = 1013
    /// The client did not read its messages fast enough; its outbound buffer filled up.
    public static let slowConsumer: UInt16 = 4008
    /// The edge could not deliver a room's (or user's) messages in order without a gap: history
    /// no longer held what it missed. Reconnect and join again with `since`; the `joined` reply
    /// then says whether the messages were recovered.
    public static let insufficientState: UInt16 = 4010

    /// Close reasons are limited to 123 bytes by RFC 6455.
    public static let maxReasonBytes = 123

    /// `reason` cut to at most 123 UTF-8 bytes without splitting a character.
    public static func truncated(_ reason: String) -> String {
        guard reason.utf8.count > maxReasonBytes else { return reason }
        var result = ""
        for character in reason {
            if result.utf8.count + character.utf8.count > maxReasonBytes { break }
            result.append(character)
        }
        return result
    }

    /// Codes an application may send (RFC 6455 §7.4): 1000–1003, 1007–1011, 1012–1014, 3000–4999.
    public static func isValidToSend(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}
