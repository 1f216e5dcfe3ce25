public import Foundation

/// The built `fanout` executable, run as a real process for end-to-end tests.
public enum FanoutBinary {
    /// `$FANOUT_BINARY`, or `.build/debug/fanout` in this package (built by `swift build --build-tests`).
    public static func path() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["FANOUT_BINARY"] { return explicit }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for candidate in [".build/debug/fanout", ".build/release/fanout"] {
            let path = root.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestServerError("fanout binary not found: run `swift build --build-tests` first (scripts/test.sh does)")
    }

    /// Runs `fanout arguments…` to completion and returns its exit code and output (stdout + stderr).
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], unprivileged: Bool = false, timeout: Duration = .seconds(30)
    ) async throws -> (code: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-run-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let (executable, prefix) = unprivileged ? try UnprivilegedUser.launcher() : (try path(), [])
        let process = try ChildProcess(
            executable: executable, arguments: prefix + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new }, outputPath: log.path)
        guard let code = await process.waitForExit(timeout: timeout) else {
            process.send(SIGKILL)
            throw TimedOut(what: "fanout \(arguments.first ?? "")", after: timeout)
        }
        return (code, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}

/// A `fanout edge` or `fanout worker` process with its log file.
public final class FanoutProcess: Sendable {
    public let child: ChildProcess
    /// Where its stdout and stderr go.
    public let logPath: String

    /// Starts `fanout <arguments>` with `environment` added to ours; as ``UnprivilegedUser`` when
    /// `unprivileged` is set.
    public init(_ arguments: [String], environment: [String: String] = [:], unprivileged: Bool = false) throws {
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-\(arguments.first ?? "x")-\(UUID().uuidString.prefix(8)).log").path
        let (executable, prefix) = unprivileged ? try UnprivilegedUser.launcher() : (try FanoutBinary.path(), [])
        child = try ChildProcess(
            executable: executable, arguments: prefix + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new }, outputPath: logPath)
    }

    /// Everything the process logged so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits for the exit code.
    public func terminate(timeout: Duration = .seconds(20)) async -> Int32? {
        child.send(SIGTERM)
        return await child.waitForExit(timeout: timeout)
    }

    /// `kill -9`.
    public func kill() async {
        child.send(SIGKILL)
        _ = await child.waitForExit(timeout: .seconds(5))
    }
}

extension FanoutProcess {
    /// Starts `fanout edge` on `port` against `redisURL` with key prefix `prefix`; waits until `/readyz` is 200.
    public static func edge(
        redisURL: String, prefix: String, port: Int, edgeID: String, environment: [String: String] = [:]
    ) async throws -> FanoutProcess {
        let process = try FanoutProcess(
            ["edge", "--port", String(port), "--edge-id", edgeID, "--redis-url", redisURL, "--key-prefix", prefix],
            environment: environment)
        guard await eventually(within: .seconds(30), { await HTTPProbe.status(port: port, path: "/readyz") == 200 }) else {
            throw TestServerError("edge \(edgeID) on port \(port) never became ready; log:\n\(process.log.suffix(2000))")
        }
        return process
    }

    /// Starts `fanout worker` (echo unless `handler` says otherwise) against `redisURL` with key prefix
    /// `prefix`; its HTTP server (metrics, health) only when `metricsPort` is given.
    public static func worker(
        redisURL: String, prefix: String, handler: String = "echo", consumerName: String? = nil, metricsPort: Int = 0,
        environment: [String: String] = [:]
    ) throws -> FanoutProcess {
        var environment = environment
        if let consumerName { environment["FANOUT_CONSUMER_NAME"] = consumerName }
        return try FanoutProcess(
            ["worker", "--handler", handler, "--metrics-port", String(metricsPort), "--redis-url", redisURL, "--key-prefix", prefix],
            environment: environment)
    }
}
