// A custom worker: your own handler, run by Fanout's worker runtime.
//
//   swift run CustomWorker            # reads FANOUT_REDIS_URL / FANOUT_KEY_PREFIX like `fanout worker`
//
// It upper-cases text messages and greets every new connection.
import FanoutCore
import FanoutWorker
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

struct ShoutHandler: MessageHandler {
    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        switch message.kind {
        case .open:
            context.reply(text: "welcome, \(message.connection)")
        case .message:
            if let text = message.text {
                context.reply(text: text.uppercased())
            } else {
                context.reply(binary: message.payload)
            }
        case .close:
            break
        }
    }
}

let logger = Logger(label: "custom-worker")
let reader = try ConfigurationReader.load(flags: [:], configPath: nil)
var configuration = try WorkerConfiguration(reader: reader)
let worker = Worker(configuration: configuration, handler: ShoutHandler(), logger: logger)
let group = ServiceGroup(configuration: .init(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
