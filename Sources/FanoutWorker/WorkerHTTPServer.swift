import Foundation
import Hummingbird
public import Logging
import NIOCore
import Prometheus
public import ServiceLifecycle
import Synchronization

/// The worker's small HTTP server on its metrics port: `/metrics` (Prometheus text), `/healthz`
/// (200 while the process runs), `/readyz` (200 while connected with the group in place and not
/// draining, else 503). List it before the worker in a `ServiceGroup`, so it shuts down after the
/// worker drained and keeps answering "draining" meanwhile.
///
/// It listens on the first port of `ports` that is free, so several workers on one host need no
/// settings of their own (`FANOUT_METRICS_PORT`, default 9090-9099); it logs the address it bound
/// and hands it to `registration`, which records it in Redis for `fanout stats`.
public struct WorkerHTTPServer: Service {
    let worker: Worker
    let host: String
    let ports: ClosedRange<Int>
    let registration: MetricsAddressRegistration?
    let logger: Logger

    public init(
        worker: Worker, host: String = "0.0.0.0", ports: ClosedRange<Int>, registration: MetricsAddressRegistration? = nil,
        logger: Logger
    ) {
        self.worker = worker
        self.host = host
        self.ports = ports
        self.registration = registration
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
        for port in ports {
            // Set once this port is bound: an "address in use" after that is not ours to skip.
            let bound = BoundFlag()
            let app = Application(
                router: router, configuration: .init(address: .hostname(host, port: port), serverName: "fanout-worker"),
                onServerRunning: { _ in
                    bound.value.store(true, ordering: .relaxed)
                    let address = "\(Self.reachableHost(host)):\(port)"
                    logger.info("worker metrics listening", metadata: ["fanout.address": "\(address)", "fanout.bind": "\(host):\(port)"])
                    registration?.announce(address)
                },
                logger: logger)
            do {
                try await app.run()
                return
            } catch where !bound.value.load(ordering: .relaxed) && Self.isAddressInUse(error) {
                logger.debug("metrics port in use; trying the next", metadata: ["fanout.bind": "\(host):\(port)"])
            }
        }
        throw WorkerHTTPServerError(
            ports.count == 1
                ? "cannot listen on \(host):\(ports.lowerBound): address already in use (FANOUT_METRICS_PORT)"
                : "no free port for /metrics on \(host) in \(ports.lowerBound)-\(ports.upperBound) (FANOUT_METRICS_PORT)")
    }

    /// A wildcard bind is reached through the machine's name (in a container: its ID, which the
    /// network's DNS resolves); any other address as it is.
    static func reachableHost(_ host: String) -> String {
        ["0.0.0.0", "::", "[::]", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
    }

    static func isAddressInUse(_ error: any Error) -> Bool {
        if let error = error as? IOError, error.errnoCode == EADDRINUSE { return true }
        return "\(error)".contains("Address already in use")
    }
}

/// Whether one attempt's server got as far as listening (a class: the closure that sets it escapes).
private final class BoundFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The worker's HTTP server found no port to listen on.
public struct WorkerHTTPServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
