import ArgumentParser
import FanoutBench
import Logging
import ServiceLifecycle
import UnixSignals

/// `fanout bench direct` — the reference server: WebSocket echo and chat on raw SwiftNIO, no queue.
struct DirectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "direct", abstract: "Serve echo and chat directly on SwiftNIO (no Redis, no framework): the reference.")

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8091

    @Option(help: "Largest message in bytes.")
    var maxMessageBytes = 1_048_576

    func run() async throws {
        ProcessResources.raiseOpenFileLimit()
        var logger = Logger(label: "fanout.direct")
        logger.logLevel = .warning
        let server = DirectServer(host: host, port: port, maxMessageBytes: maxMessageBytes, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
