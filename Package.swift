// swift-tools-version:6.2
// The target list is the architecture: arrows point one way, from the CLI down to CHiredis.
//
//   FanoutCLI ──▶ FanoutEdge ──┐
//        │                     ├──▶ FanoutCore ──▶ FanoutRedis ──▶ CHiredis (system library: libhiredis)
//        └──────▶ FanoutWorker ┘
//   FanoutClient ──▶ FanoutCore: the Swift WebSocket client library (reconnect with backoff).
//   FanoutBench ──▶ FanoutEdge, FanoutCore: `fanout bench` load generator (lean NIO WebSocket client,
//                   HdrHistogram) and the in-process ceiling server (Hummingbird with the edge's own
//                   WebSocket settings, no Redis).
//   FanoutTesting: real redis-server per test run, unique key prefixes, test clients, processes, the bench ceiling.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The hot-path targets (Redis client, core formats, edge, worker) skip the runtime exclusivity
/// checks in release builds: they cost ~7 % of an edge's CPU (`swift_beginAccess` on every
/// loop-confined property update, per frame). The compile-time checks stay, and debug builds — the
/// test suite — keep the runtime checks too (decision 0005).
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "fanout",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fanout", targets: ["FanoutCLI"]),
        .library(name: "FanoutRedis", targets: ["FanoutRedis"]),
        .library(name: "FanoutCore", targets: ["FanoutCore"]),
        .library(name: "FanoutWorker", targets: ["FanoutWorker"]),
        .library(name: "FanoutEdge", targets: ["FanoutEdge"]),
        .library(name: "FanoutClient", targets: ["FanoutClient"]),
        .library(name: "FanoutTesting", targets: ["FanoutTesting"]),
        .library(name: "FanoutBench", targets: ["FanoutBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "FanoutRedis",
            dependencies: [
                "CHiredis",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "FanoutCore",
            dependencies: [
                "FanoutRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "FanoutEdge",
            dependencies: [
                "FanoutCore", "FanoutRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "FanoutWorker",
            dependencies: [
                "FanoutCore", "FanoutRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "FanoutClient",
            dependencies: [
                "FanoutCore", "FanoutRedis",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FanoutBench",
            dependencies: [
                "FanoutCore", "FanoutEdge",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FanoutTesting",
            dependencies: [
                "FanoutRedis", "FanoutCore", "FanoutClient", "FanoutEdge", "FanoutWorker", "FanoutBench",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FanoutCLI",
            dependencies: [
                "FanoutCore", "FanoutRedis", "FanoutEdge", "FanoutWorker", "FanoutBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CustomWorker",
            dependencies: [
                "FanoutWorker", "FanoutCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Examples/CustomWorker",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FanoutEdgeTests",
            dependencies: [
                "FanoutEdge", "FanoutCore", "FanoutTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FanoutRedisTests",
            dependencies: [
                "FanoutRedis", "FanoutTesting",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FanoutCoreTests",
            dependencies: ["FanoutCore", "FanoutRedis", "FanoutTesting", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FanoutWorkerTests",
            dependencies: [
                "FanoutWorker", "FanoutCore", "FanoutRedis", "FanoutTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FanoutIntegrationTests",
            dependencies: [
                "FanoutCore", "FanoutRedis", "FanoutEdge", "FanoutWorker", "FanoutTesting", "FanoutClient", "FanoutBench",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
