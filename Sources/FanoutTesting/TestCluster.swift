public import FanoutCore
public import FanoutEdge
public import FanoutRedis
public import FanoutWorker
import Foundation
import Logging
import NIOCore

/// Edges and workers running in this process against a test Redis, with a unique key prefix.
public struct TestCluster: Sendable {
    public let server: RedisTestServer
    public let keySpace: KeySpace
    public let edges: [Edge]
    public let workers: [Worker]
    /// A client for assertions (XLEN, XPENDING …).
    public let redis: RedisClient
    let ports: [Int]

    /// The TCP port of edge `index`.
    public func port(edge index: Int) -> Int { ports[index] }

    /// `ws://127.0.0.1:<port>/ws` of edge `index`.
    public func url(edge index: Int) -> String { "ws://127.0.0.1:\(ports[index])/ws" }

    /// Every edge's WebSocket URL.
    public var urls: [String] { ports.indices.map { url(edge: $0) } }

    /// HTTP base URL of edge `index`.
    public func httpURL(edge index: Int) -> String { "http://127.0.0.1:\(ports[index])" }

    /// The payloads of the `message` entries in the inbound streams, in order (partition after
    /// partition): what edges accepted.
    public func acceptedMessages() async throws -> [String] {
        var accepted: [String] = []
        for stream in keySpace.inboundStreams {
            accepted += try await redis.xrange(stream)
                .filter { $0["kind"].map { String(buffer: $0) } == "message" }
                .map { $0["payload"].map { String(buffer: $0) } ?? "" }
        }
        return accepted
    }

    /// What a new client gets back for `text` on `edge` — for checking that an edge still serves
    /// others after answering a misbehaving client (the cluster's handler must echo).
    public func reply(to text: String, edge index: Int = 0) async throws -> String {
        try await withTestClients(1, urls: [url(edge: index)]) { clients in
            try await clients[0].send(text: text)
            return try await clients[0].nextText()
        }
    }

    /// Starts the cluster, waits until every edge listens and is ready and every worker reads, runs
    /// `body`, then cancels everything. `keySpace`: a prefix the test already wrote to (default: a
    /// new unique one).
    public static func run<Result: Sendable>(
        edges edgeCount: Int = 1,
        workers workerCount: Int = 1,
        handler: any MessageHandler = EchoHandler(),
        server: RedisTestServer? = nil,
        keySpace: KeySpace? = nil,
        configureEdge: @Sendable (inout EdgeConfiguration) -> Void = { _ in },
        configureWorker: @Sendable (inout WorkerConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestCluster) async throws -> Result
    ) async throws -> Result {
        let server = if let server { server } else { try await RedisTestServer.shared() }
        return try await run(
            edges: edgeCount, workers: workerCount, handler: handler, server: server, redis: server.configuration, keySpace: keySpace ?? KeySpace(prefix: TestKeys.uniquePrefix()),
            configureEdge: configureEdge, configureWorker: configureWorker, body)
    }

    /// The same on a Redis Cluster (`server` is then its first master), with `partitions` inbound streams.
    public static func run<Result: Sendable>(
        edges edgeCount: Int = 1,
        workers workerCount: Int = 1,
        handler: any MessageHandler = EchoHandler(),
        cluster: RedisClusterTestSetup,
        partitions: Int,
        configureEdge: @Sendable (inout EdgeConfiguration) -> Void = { _ in },
        configureWorker: @Sendable (inout WorkerConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestCluster) async throws -> Result
    ) async throws -> Result {
        try await run(
            edges: edgeCount, workers: workerCount, handler: handler, server: cluster.servers[0], redis: cluster.configuration,
            keySpace: KeySpace(prefix: TestKeys.uniquePrefix(), partitions: partitions, cluster: true), configureEdge: configureEdge, configureWorker: configureWorker, body)
    }

    private static func run<Result: Sendable>(
        edges edgeCount: Int, workers workerCount: Int, handler: any MessageHandler, server: RedisTestServer,
        redis configuration: RedisConfiguration, keySpace: KeySpace,
        configureEdge: @Sendable (inout EdgeConfiguration) -> Void, configureWorker: @Sendable (inout WorkerConfiguration) -> Void,
        _ body: @Sendable (TestCluster) async throws -> Result
    ) async throws -> Result {
        let common = CommonConfiguration(redis: configuration, keySpace: keySpace)
        let logger = testLogger()
        let edges = (0..<edgeCount).map { index -> Edge in
            var configuration = EdgeConfiguration(common: common)
            configuration.port = 0
            configuration.edgeID = EdgeID("edge\(index)-\(keySpace.prefix.suffix(8))")!
            configureEdge(&configuration)
            return Edge(configuration: configuration, logger: logger)
        }
        let workers = (0..<workerCount).map { index -> Worker in
            var configuration = WorkerConfiguration(common: common)
            configuration.consumerName = "worker-\(index)"
            configuration.blockTime = .milliseconds(200)
            configuration.metricsPort = 0
            configureWorker(&configuration)
            return Worker(configuration: configuration, handler: handler, logger: logger)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for edge in edges { group.addTask { try await edge.run() } }
            for worker in workers { group.addTask { try await worker.run() } }
            let redis = RedisClient(configuration: configuration, logger: logger)
            group.addTask { try await redis.run() }
            defer {
                redis.stop()
                group.cancelAll()
            }
            var ports: [Int] = []
            for edge in edges {
                guard let port = try await withTimeout(.seconds(10), "edge listening", { await edge.listeningPort() }) else {
                    throw TimedOut(what: "edge listening", after: .seconds(10))
                }
                ports.append(port)
            }
            try await redis.waitUntilConnected(timeout: .seconds(10))
            guard await eventually({ edges.allSatisfy(\.isReady) && workers.allSatisfy(\.isReady) }) else {
                throw TimedOut(what: "cluster readiness", after: .seconds(10))
            }
            let cluster = TestCluster(server: server, keySpace: keySpace, edges: edges, workers: workers, redis: redis, ports: ports)
            return try await body(cluster)
        }
    }
}

/// A logger for in-process roles in tests: quiet unless `FANOUT_TEST_LOG_LEVEL` asks for more, so
/// the expected noise of tearing a cluster down mid-flight does not bury real failures.
func testLogger() -> Logger {
    var logger = Logger(label: "fanout.test")
    logger.logLevel = ProcessInfo.processInfo.environment["FANOUT_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}
