public import FanoutCore

/// The handlers `fanout worker --handler NAME` can run.
public enum BuiltInHandlers {
    /// Names accepted by `--handler` / `FANOUT_HANDLER`.
    public static let names = ["echo", "chat", "burn"]

    /// The handler called `name`, or `nil`.
    public static func handler(named name: String) -> (any MessageHandler)? {
        switch name {
        case "echo": return EchoHandler()
        case "chat": return ChatHandler()
        case "burn": return BurnHandler()
        default: return nil
        }
    }
}
