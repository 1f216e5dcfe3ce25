import ArgumentParser
import FanoutBench
import Logging
import ServiceLifecycle
import UnixSignals

/// `fanout bench ceiling` — the edge's WebSocket stack answering in-process (echo and chat rooms),
/// no Redis: what the full pipeline is compared with.
struct CeilingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ceiling", abstract: "Serve echo and chat in-process with the edge's WebSocket settings (no Redis).")

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8090

    @Option(help: "Largest message in bytes (the edge's FANOUT_MAX_MESSAGE_BYTES).")
    var maxMessageBytes = 1_048_576

    func run() async throws {
        ProcessResources.raiseOpenFileLimit()
        var logger = Logger(label: "fanout.ceiling")
        logger.logLevel = .warning
        let server = CeilingServer(host: host, port: port, maxMessageBytes: maxMessageBytes, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
