public import FanoutCore

/// Replies to every message with exactly the bytes and frame type it received. Ignores `open` and `close`.
public struct EchoHandler: MessageHandler {
    public init() {}

    public func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message else { return }
        context.reply(message.frameType, message.payload)
    }
}
