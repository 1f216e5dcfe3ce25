public import Foundation
public import FanoutRedis
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A real `redis-server` for tests: own free port, own temporary directory, stopped when done.
///
/// It can be killed (`kill -9`) and started again on the same port with the same data directory,
/// for fault tests. A missing `redis-server` is an error, never a skipped test: the test command
/// installs it (see README).
public final class RedisTestServer: Sendable {
    /// The TCP port the server listens on (127.0.0.1).
    public let port: Int
    /// The data directory (AOF/RDB files live here between restarts).
    public let directory: URL
    /// The password the server requires, if any.
    public let password: String?
    private let extraArguments: [String]
    private let process = Mutex<ServerProcess?>(nil)

    /// `redis://[:password@]127.0.0.1:<port>`.
    public var url: String {
        // Percent-encoded, so a password with `/`, `@` or `%` survives the URL.
        if let password { return "redis://:\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)@127.0.0.1:\(port)" }
        return "redis://127.0.0.1:\(port)"
    }

    /// A client configuration pointing at this server, with short timeouts suited to tests.
    public var configuration: RedisConfiguration {
        var configuration = try! RedisConfiguration(url: url)
        configuration.connectTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(3)
        configuration.reconnectBackoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(250))
        return configuration
    }

    /// Starts a server on a free port and waits until it answers PING.
    ///
    /// - Parameters:
    ///   - password: sets `requirepass`.
    ///   - appendOnly: turns on AOF with `appendfsync always`, so a `kill -9` loses nothing.
    ///   - extraArguments: further `redis-server` arguments (`--user …` for ACL tests).
    public static func start(password: String? = nil, appendOnly: Bool = false, extraArguments: [String] = []) async throws -> RedisTestServer {
        var arguments = extraArguments
        if appendOnly { arguments += ["--appendonly", "yes", "--appendfsync", "always"] }
        var lastError: (any Error)?
        for _ in 0..<5 {  // a freshly freed port can be taken by someone else before redis binds it
            let server = try RedisTestServer(port: try freePort(), password: password, extraArguments: arguments)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
                await server.kill()
            }
        }
        throw lastError ?? TestServerError("redis-server did not start")
    }

    /// The server shared by tests that do not kill it; each test isolates itself with a `KeySpace` prefix.
    public static func shared() async throws -> RedisTestServer {
        try await SharedServer.instance.get()
    }

    private init(port: Int, password: String?, extraArguments: [String]) throws {
        self.port = port
        self.password = password
        self.extraArguments = extraArguments
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-redis-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        if let process = process.withLock({ $0 }), let pid = process.serverPID {
            Foundation.kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Locates `redis-server` on PATH or in the usual places.
    public static func executable() throws -> String {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/redis-server" }
            + ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw TestServerError("redis-server not found: run the README's test command (scripts/test.sh), which installs it")
    }

    private func launch() async throws {
        let pidFile = directory.appendingPathComponent("redis.pid")
        try? FileManager.default.removeItem(at: pidFile)
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--pidfile", pidFile.path,
            "--save", "", "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ]
        if let password { arguments += ["--requirepass", password] }
        // redis-server runs under a small shell that kills it when our end of its stdin pipe closes,
        // so a crashed or interrupted test run never leaves servers behind.
        let shell = try ChildProcess(
            executable: "/bin/sh",
            arguments: ["-c", #""$0" "$@" </dev/null & pid=$!; cat >/dev/null; kill -9 $pid 2>/dev/null"#, try Self.executable()]
                + arguments + extraArguments)
        self.process.withLock { $0 = ServerProcess(shell: shell, pidFile: pidFile) }
        try await waitUntilReady()
    }

    private func waitUntilReady() async throws {
        var configuration = self.configuration
        configuration.connectTimeout = .milliseconds(200)
        let deadline = ContinuousClock.now + .seconds(10)
        let logger = Logger(label: "fanout.testing.redis")
        while ContinuousClock.now < deadline {
            if let shell = process.withLock({ $0?.shell }), !shell.isRunning {
                throw TestServerError("redis-server exited at start")
            }
            if let connection = try? await RedisConnection.connect(
                configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
            {
                connection.close()
                return
            }
            // Polling is the only signal redis-server gives that it is listening; bounded by the deadline.
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError("redis-server on port \(port) not ready within 10 s")
    }

    /// Stops the server with SIGKILL — no shutdown save, like a crash — and waits until it is gone.
    public func kill() async {
        await signal(SIGKILL)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it to exit.
    public func stop() async {
        await signal(SIGTERM)
    }

    private func signal(_ signal: Int32) async {
        guard let process = process.withLock({ $0 }), let pid = process.serverPID else { return }
        Foundation.kill(pid, signal)
        // The server is gone for clients once its port refuses connections. (It stays a zombie of
        // its wrapper shell until the shell exits; /proc may belong to another PID namespace in
        // sandboxes, so the port is the dependable signal.) Bounded; no cooperative thread blocks.
        let deadline = ContinuousClock.now + .seconds(10)
        while Self.acceptsConnections(port: port), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// `true` when something accepts TCP connections on 127.0.0.1:`port` (a loopback connect answers at once).
    static func acceptsConnections(port: Int) -> Bool {
        guard let fd = try? LoopbackSocket.connect(port: port, receiveTimeout: 1) else { return false }
        close(fd)
        return true
    }

    /// Starts the server again on the same port and data directory (after `kill` or `stop`).
    public func restart() async throws {
        var lastError: (any Error)?
        for _ in 0..<20 {  // the kernel may hold the port for a moment after the kill
            do {
                try await launch()
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw lastError ?? TestServerError("restart failed")
    }

    /// Picks a free TCP port on 127.0.0.1 by binding port 0 and releasing it.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestServerError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The shell wrapper, the pipe whose closing kills the server, and where redis writes its PID.
private struct ServerProcess: Sendable {
    let shell: ChildProcess
    let pidFile: URL

    /// The redis-server PID, once it has written its pid file.
    var serverPID: pid_t? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Why the test Redis server could not be provided.
public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Starts the shared server once per test process.
private actor SharedServer {
    static let instance = SharedServer()
    private var server: Task<RedisTestServer, any Error>?

    func get() async throws -> RedisTestServer {
        if let server { return try await server.value }
        let task = Task { try await RedisTestServer.start() }
        server = task
        return try await task.value
    }
}
