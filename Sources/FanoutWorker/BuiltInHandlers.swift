public import FanoutCore

/// The handlers `fanout worker --handler NAME` can run.
public enum BuiltInHandlers {
    /// Names accepted by `--handler` / `FANOUT_HANDLER`.
    public static let names = ["echo", "chat", "echo-chat", "burn", "delay"]

    /// The handler called `name`, or `nil`; `configuration` supplies its settings (`delay`'s wait).
    public static func handler(named name: String, configuration: WorkerConfiguration = WorkerConfiguration()) -> (any MessageHandler)? {
        switch name {
        case "echo": return EchoHandler()
        case "chat": return ChatHandler()
        case "echo-chat": return EchoChatHandler()
        case "burn": return BurnHandler()
        case "delay": return DelayHandler(delay: configuration.delay)
        default: return nil
        }
    }
}
