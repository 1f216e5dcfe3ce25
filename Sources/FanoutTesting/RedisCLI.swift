public import Foundation

/// The real `redis-cli`, run as a child process: what an operator (or an attacker with access to
/// Redis) types, for tests that write to Fanout's keys the way people do by hand.
///
/// Arguments are bytes, so anything can be sent — invalid UTF-8, NUL, newlines. `redis-cli` reads
/// the command from its stdin, where each argument is written as a double-quoted string of `\xHH`
/// escapes (redis-cli's own quoting, `sdssplitargs`), because a command-line argument cannot
/// carry a NUL byte and a Swift `String` cannot carry invalid UTF-8.
public enum RedisCLI {
    /// The result of one `redis-cli` run.
    public struct Output: Sendable {
        /// redis-cli's exit code.
        public let code: Int32
        /// What it printed (stdout and stderr), with the trailing newline removed.
        public let text: String
    }

    /// Locates `redis-cli` on PATH or in the usual places (scripts/install-deps.sh installs it).
    public static func executable() throws -> String {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/redis-cli" }
            + ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw TestServerError("redis-cli not found: run the README's test command (scripts/test.sh), which installs it")
    }

    /// Runs one command, given as byte arguments, against 127.0.0.1:`port`. A `password` is passed
    /// in the environment (`REDISCLI_AUTH`), never on the command line.
    public static func run(port: Int, password: String? = nil, _ arguments: [[UInt8]], timeout: Duration = .seconds(10)) async throws
        -> Output
    {
        let directory = FileManager.default.temporaryDirectory
        let id = UUID().uuidString.prefix(8)
        let input = directory.appendingPathComponent("fanout-redis-cli-\(id).in")
        let output = directory.appendingPathComponent("fanout-redis-cli-\(id).out")
        defer {
            try? FileManager.default.removeItem(at: input)
            try? FileManager.default.removeItem(at: output)
        }
        try Data(commandLine(arguments).utf8).write(to: input)
        var environment = ProcessInfo.processInfo.environment
        environment["REDISCLI_AUTH"] = password
        let process = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", #"exec "$0" -h 127.0.0.1 -p "$1" <"$2""#, try executable(), String(port), input.path],
            environment: environment, outputPath: output.path)
        guard let code = await process.waitForExit(timeout: timeout) else {
            process.send(SIGKILL)
            throw TimedOut(what: "redis-cli \(arguments.first.map { String(decoding: $0, as: UTF8.self) } ?? "")", after: timeout)
        }
        var text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        if text.hasSuffix("\n") { text.removeLast() }
        return Output(code: code, text: text)
    }

    /// Runs one command given as strings.
    public static func run(port: Int, password: String? = nil, _ arguments: [String], timeout: Duration = .seconds(10)) async throws
        -> Output
    {
        try await run(port: port, password: password, arguments.map { Array($0.utf8) }, timeout: timeout)
    }

    /// One line of redis-cli input: every argument double-quoted, every byte a `\xHH` escape.
    static func commandLine(_ arguments: [[UInt8]]) -> String {
        let hex = Array("0123456789abcdef")
        return arguments.map { argument in
            var quoted = "\""
            for byte in argument {
                quoted += "\\x"
                quoted.append(hex[Int(byte >> 4)])
                quoted.append(hex[Int(byte & 0x0F)])
            }
            return quoted + "\""
        }.joined(separator: " ") + "\n"
    }
}
