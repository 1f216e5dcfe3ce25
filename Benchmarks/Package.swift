// swift-tools-version:6.2
// Micro-benchmarks (ordo-one/benchmark) for the hot paths below the edge and the worker: envelope
// encode/decode, stream entry fields, RESP parsing and encoding, and the Redis client against a
// real redis-server. A package of its own, like Fuzz/, so the product build and CI's `swift build`
// never resolve or compile the benchmark tooling. Run it with `bash scripts/bench-micro.sh`
// (`--quick` runs every benchmark once); BENCHMARKS.md records the numbers.
//
// ordo-one/benchmark requires that every benchmark target lives in `<package>/Benchmarks/<Target>`:
// this package's root *is* the repository's `Benchmarks/` folder, so the target is
// `Benchmarks/FanoutBenchmarks`.
import PackageDescription

let package = Package(
    name: "fanout-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fanout", path: ".."),
        // Only the malloc interposer trait: the default set also enables "RuntimeInterposer" (ARC
        // counts on Swift 6.3 Linux), whose package is not among the ones this project resolves.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "FanoutBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FanoutCore", package: "fanout"),
                .product(name: "FanoutRedis", package: "fanout"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "FanoutBenchmarks",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
