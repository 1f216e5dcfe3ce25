public import FanoutCore
import NIOCore

/// The chat protocol for text messages that are JSON objects (they start with `{`), echo for
/// everything else — what `fanout bench direct` and `ceiling` answer, so one worker pool serves the
/// soak test's echo load and its chat room at once (`scripts/soak.sh`).
public struct EchoChatHandler: MessageHandler {
    private let chat = ChatHandler()
    private let echo = EchoHandler()

    public init() {}

    public func handle(_ message: InboundMessage, context: MessageContext) async throws {
        if message.frameType == .text, message.payload.readableBytesView.first == UInt8(ascii: "{") {
            try await chat.handle(message, context: context)
        } else {
            try await echo.handle(message, context: context)
        }
    }
}
