import Hummingbird
public import Logging
import NIOCore
import Prometheus
public import ServiceLifecycle

/// The worker's small HTTP server on its metrics port: `/metrics` (Prometheus text), `/healthz`
/// (200 while the process runs), `/readyz` (200 while connected with the group in place and not
/// draining, else 503). List it before the worker in a `ServiceGroup`, so it shuts down after the
/// worker drained and keeps answering "draining" meanwhile.
public struct WorkerHTTPServer: Service {
    let worker: Worker
    let host: String
    let port: Int
    let logger: Logger

    public init(worker: Worker, host: String = "0.0.0.0", port: Int, logger: Logger) {
        self.worker = worker
        self.host = host
        self.port = port
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let ready = worker.isReady
            let text = ready ? "ready\n" : (worker.isDraining ? "draining\n" : "not ready\n")
            return Response(status: ready ? .ok : .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: PrometheusMetricsFactory.defaultRegistry.emitToBuffer())))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "fanout-worker"), logger: logger)
        try await app.run()
    }
}
