public import FanoutCore

/// Waits a fixed time per message without using CPU (default 50 ms), then echoes it: a stand-in
/// for a handler that awaits I/O — a database, an HTTP call — so that adding workers shows what it
/// does for such work (`fanout worker --handler delay`, `FANOUT_DELAY_MS`; the compose test drains
/// a backlog with one worker and with three). Open and close events are not delayed.
public struct DelayHandler: MessageHandler {
    /// How long each message waits before its echo.
    public let delay: Duration

    public init(delay: Duration = .milliseconds(50)) {
        self.delay = delay
    }

    public func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message else { return }
        // A suspension, not a blocked thread: while it waits, the worker's other entries run.
        // Cancelled (a shutdown past its deadline), it throws and the entry stays pending.
        try await Task.sleep(for: delay)
        context.reply(message.frameType, message.payload)
    }
}
