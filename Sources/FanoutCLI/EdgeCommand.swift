import ArgumentParser
import FanoutCore
import FanoutEdge
import Logging
import ServiceLifecycle
import UnixSignals

/// `fanout edge` — the WebSocket edge.
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "edge", abstract: "Run a WebSocket edge.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to bind (FANOUT_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "HTTP/WebSocket port (FANOUT_PORT; default 8080).")
    var port: Int?

    @Option(help: "This edge's ID, part of its connection IDs (FANOUT_EDGE_ID; default random).")
    var edgeID: String?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["FANOUT_HOST"] = host
        flags["FANOUT_PORT"] = port.map(String.init)
        flags["FANOUT_EDGE_ID"] = edgeID
        let configuration: EdgeConfiguration
        let logger: Logger
        do {
            let reader = try common.reader(adding: flags)
            configuration = try EdgeConfiguration(reader: reader)
            logger = try LoggingSetup.bootstrap(reader: reader, label: "fanout.edge")
        } catch {
            exitWithOneLine("edge", "\(error)")
        }
        MetricsSetup.bootstrap()
        let edge = Edge(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [edge], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            exitWithOneLine("edge", ErrorDescription.oneLine(error, host: configuration.host, port: configuration.port))
        }
    }
}
