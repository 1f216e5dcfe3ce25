// swift-tools-version:6.2
// libFuzzer targets for the decoders that read bytes Fanout does not control. A package of its
// own, so the fuzzing flags (`-sanitize=fuzzer,address`) never touch the product build and the
// root manifest stays the architecture diagram. Build and run them with `bash scripts/fuzz.sh`;
// Docs/fuzzing.md says what each target feeds, what it checks, and how long it has run clean.
//
//   FuzzInboundEntry      stream entry fields      → InboundEntry(StreamEntry)      (FanoutCore)
//   FuzzOutboundEnvelope  pub/sub message bytes    → OutboundEnvelope(decoding:)    (FanoutCore)
//   FuzzRESPReader        bytes from a Redis socket → RESPReader.feed / next         (FanoutRedis)
//   FuzzChatHandler       a client's text frame    → ChatHandler.handle             (FanoutWorker)
import PackageDescription

// Each fuzzer is an executable whose `main` is libFuzzer's: the target defines only
// `LLVMFuzzerTestOneInput` and is compiled with `-parse-as-library` (scripts/fuzz.sh passes the flags).
func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies, swiftSettings: [.enableUpcomingFeature("ExistentialAny")])
}

let package = Package(
    name: "fanout-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fanout", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        fuzzer("FuzzInboundEntry", [
            .product(name: "FanoutCore", package: "fanout"),
            .product(name: "FanoutRedis", package: "fanout"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzer("FuzzOutboundEnvelope", [
            .product(name: "FanoutCore", package: "fanout"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzer("FuzzRESPReader", [
            .product(name: "FanoutRedis", package: "fanout"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        fuzzer("FuzzChatHandler", [
            .product(name: "FanoutWorker", package: "fanout"),
            .product(name: "FanoutCore", package: "fanout"),
            .product(name: "FanoutRedis", package: "fanout"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
