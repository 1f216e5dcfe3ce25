import ArgumentParser
import FanoutCore
import FanoutRedis
import FanoutWorker
import Logging
import ServiceLifecycle
import UnixSignals

/// `fanout worker` — a consumer-group worker running a built-in handler.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker with a built-in handler.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Built-in handler: echo, chat, burn or delay (FANOUT_HANDLER; default echo).")
    var handler: String?

    @Option(help: "Lanes a batch is spread over when handlers are slow (FANOUT_CONCURRENCY; default 64).")
    var concurrency: Int?

    @Option(help: "Most entries per XREADGROUP (FANOUT_BATCH_SIZE; default 128).")
    var batchSize: Int?

    @Option(help: "Port or range for /metrics, /healthz, /readyz: the first free one is used (FANOUT_METRICS_PORT; default 9090-9099, 0 disables).")
    var metricsPort: String?

    func run() async throws {
        var flags: [String: String] = [:]
        flags["FANOUT_HANDLER"] = handler
        flags["FANOUT_CONCURRENCY"] = concurrency.map(String.init)
        flags["FANOUT_BATCH_SIZE"] = batchSize.map(String.init)
        flags["FANOUT_METRICS_PORT"] = metricsPort
        let configuration: WorkerConfiguration
        let logger: Logger
        let messageHandler: any MessageHandler
        let metricsHost: String
        do {
            let reader = try common.reader(adding: flags)
            metricsHost = reader.string("FANOUT_HOST", default: "127.0.0.1")
            configuration = try WorkerConfiguration(reader: reader)
            guard let builtIn = BuiltInHandlers.handler(named: configuration.handlerName, configuration: configuration) else {
                throw ConfigurationError(
                    "FANOUT_HANDLER: unknown handler '\(configuration.handlerName)' (choose \(BuiltInHandlers.names.joined(separator: " or ")))")
            }
            messageHandler = builtIn
            logger = try LoggingSetup.bootstrap(reader: reader, label: "fanout.worker")
        } catch {
            exitWithOneLine("worker", "\(error)")
        }
        MetricsSetup.bootstrap()
        let worker = Worker(configuration: configuration, handler: messageHandler, logger: logger)
        logger.info("worker starting", metadata: [
            "fanout.consumer": "\(configuration.consumerName)", "fanout.handler": "\(configuration.handlerName)",
            "redis.url": "\(configuration.common.redis.redactedURL)",
        ])
        // The HTTP server is listed before the worker so it stops after it: it reports "draining"
        // while the worker drains. Its address record in Redis goes last of all.
        var services: [any Service] = []
        if configuration.metricsPort > 0 {
            let registration = MetricsAddressRegistration(configuration: configuration, logger: logger)
            services.append(registration)
            services.append(WorkerHTTPServer(
                worker: worker, host: metricsHost, ports: configuration.metricsPorts, registration: registration, logger: logger))
        }
        services.append(worker)
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            exitWithOneLine("worker", "\(error)")
        }
    }
}
