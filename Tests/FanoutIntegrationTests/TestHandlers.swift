import FanoutCore
import NIOCore
import Synchronization

/// On `open` tells the client its connection ID (`id:<conn>`). Text commands:
/// `send <conn> <text>` sends `<text>` to that connection; `close <conn> <code> <reason>` closes it.
/// Anything else is echoed.
struct DirectoryHandler: MessageHandler {
    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        switch message.kind {
        case .open:
            context.reply(text: "id:\(message.connection)")
        case .close:
            break
        case .message:
            let parts = (message.text ?? "").split(separator: " ", maxSplits: 3).map(String.init)
            if parts.count >= 3, parts[0] == "send", let target = ConnectionID(parts[1]) {
                context.send(to: target, .text, ByteBuffer(string: parts[2...].joined(separator: " ")))
            } else if parts.count >= 3, parts[0] == "close", let target = ConnectionID(parts[1]), let code = UInt16(parts[2]) {
                context.close(target, code: code, reason: parts.count > 3 ? parts[3] : "")
            } else {
                context.reply(message.frameType, message.payload)
            }
        }
    }
}

/// Records every message kind it sees per connection.
final class RecordingHandler: MessageHandler {
    let seen = Mutex<[ConnectionID: [InboundEntry.Kind]]>([:])

    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        seen.withLock { $0[message.connection, default: []].append(message.kind) }
        if message.kind == .open { context.reply(text: "id:\(message.connection)") }
    }
}
