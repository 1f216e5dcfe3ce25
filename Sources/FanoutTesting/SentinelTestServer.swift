import Foundation
import Logging
import NIOCore
import NIOPosix
public import FanoutRedis

/// A real `redis-sentinel` for tests, on its own free port with its own config file and
/// directory, watching one master. Killed (like its `redis-server` siblings) when the test
/// process goes away. A missing `redis-sentinel` is an error, never a skipped test.
public final class SentinelTestServer: Sendable {
    /// The TCP port the sentinel listens on (127.0.0.1).
    public let port: Int
    /// The password the sentinel requires (`requirepass`), if any.
    public let password: String?
    let directory: URL
    private let shell: ChildProcess

    /// Locates Debian's `redis-sentinel` (package `redis-sentinel`; scripts/install-deps.sh installs it).
    public static func executable() throws -> String {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/redis-sentinel" }
            + ["/usr/bin/redis-sentinel", "/usr/local/bin/redis-sentinel"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw TestServerError("redis-sentinel not found: run the README's test command (scripts/test.sh), which installs it")
    }

    /// Starts a sentinel monitoring `masterName` at 127.0.0.1:`masterPort` with quorum 2, and
    /// waits until it answers PING.
    ///
    /// - Parameters:
    ///   - masterPassword: the data nodes' password (`sentinel auth-pass`).
    ///   - password: the sentinel's own `requirepass` (also what sentinels use with each other).
    ///   - downAfter / failoverTimeout: small values keep failover tests short.
    public static func start(
        masterName: String, masterPort: Int, masterPassword: String? = nil, password: String? = nil,
        downAfter: Duration = .milliseconds(1000), failoverTimeout: Duration = .seconds(3)
    ) async throws -> SentinelTestServer {
        let executable = try executable()
        var lastError: (any Error)?
        for _ in 0..<5 {  // a freshly freed port can be taken by someone else before the sentinel binds it
            let port = try RedisTestServer.freePort()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-sentinel-\(port)-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var lines = [
                "port \(port)", "bind 127.0.0.1", "protected-mode no", "daemonize no", "dir \(directory.path)",
                "logfile \(directory.appendingPathComponent("sentinel.log").path)",
                "pidfile \(directory.appendingPathComponent("sentinel.pid").path)",
                "sentinel monitor \(masterName) 127.0.0.1 \(masterPort) 2",
                "sentinel down-after-milliseconds \(masterName) \(downAfter.milliseconds)",
                "sentinel failover-timeout \(masterName) \(failoverTimeout.milliseconds)",
                "sentinel parallel-syncs \(masterName) 1",
            ]
            if let masterPassword { lines.append("sentinel auth-pass \(masterName) \(masterPassword)") }
            if let password { lines.append("requirepass \(password)") }
            let config = directory.appendingPathComponent("sentinel.conf")
            try (lines.joined(separator: "\n") + "\n").write(to: config, atomically: true, encoding: .utf8)
            // Under a small shell that kills it when our end of its stdin pipe closes (see RedisTestServer).
            let shell = try ChildProcess(
                executable: "/bin/sh",
                arguments: ["-c", #""$0" "$@" </dev/null & pid=$!; cat >/dev/null; kill -9 $pid 2>/dev/null"#, executable, config.path])
            let server = SentinelTestServer(port: port, password: password, directory: directory, shell: shell)
            do {
                try await server.waitUntilAnswering()
                return server
            } catch {
                lastError = error
            }
        }
        throw lastError ?? TestServerError("redis-sentinel did not start")
    }

    private init(port: Int, password: String?, directory: URL, shell: ChildProcess) {
        self.port = port
        self.password = password
        self.directory = directory
        self.shell = shell
    }

    deinit {
        if let pid = sentinelPID { Foundation.kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The sentinel's own PID, once it has written its pid file.
    private var sentinelPID: pid_t? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("sentinel.pid"), encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `127.0.0.1:<port>`, as it appears in a `redis-sentinel://` URL.
    public var address: String { "127.0.0.1:\(port)" }

    /// What the sentinel logged so far (for failure messages).
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("sentinel.log"), encoding: .utf8)) ?? ""
    }

    /// A plain configuration for talking to this sentinel itself.
    public var configuration: RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: port, password: password, connectTimeout: .seconds(1), commandTimeout: .seconds(3))
    }

    /// Sends one command to the sentinel on a connection of its own.
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: Logger(label: "fanout.testing.sentinel"))
        defer { connection.close() }
        return try await connection.send(command)
    }

    /// The master's port as this sentinel names it now.
    public func masterPort(_ masterName: String) async throws -> Int? {
        let reply = try await send(RedisCommand("SENTINEL", ["get-master-addr-by-name", masterName]))
        return reply.array.flatMap { $0.count == 2 ? $0[1].string.flatMap { Int($0) } : nil }
    }

    /// `kill -9`, and waits until the port refuses connections.
    public func kill() async {
        guard let pid = sentinelPID else { return }
        Foundation.kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while RedisTestServer.acceptsConnections(port: port), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    private func waitUntilAnswering() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if !shell.isRunning { throw TestServerError("redis-sentinel exited at start:\n\(log.suffix(1000))") }
            if (try? await send(.ping())) != nil { return }
            // Polling is the only signal a sentinel gives that it is listening; bounded by the deadline.
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError("redis-sentinel on port \(port) not ready within 10 s:\n\(log.suffix(1000))")
    }
}
