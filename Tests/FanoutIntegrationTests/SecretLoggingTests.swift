import FanoutCore
import FanoutRedis
import FanoutTesting
import Foundation
import Testing

/// The Redis password in `FANOUT_REDIS_URL` never reaches a log: edge and worker processes at
/// `trace`, through traffic, a Redis restart (reconnect lines), a wrong password (error lines),
/// `fanout stats`, and a malformed URL — and neither do the passwords of a `redis-sentinel://`
/// URL and `FANOUT_REDIS_SENTINEL_PASSWORD`.
@Suite(.serialized) struct SecretLoggingTests {
    static let user = "fanout-acl"
    /// Characters that must be percent-encoded in a URL, so the encoded form differs from the raw one.
    static let secret = "Sup3r-S3cret/p@ss:w%rd"
    static let wrong = "Wr0ng-Gu3ss/p@ss:w%rd"
    /// `requirepass` (the default user's password); only the test's own readiness checks use it.
    static let defaultPassword = "Def4ult-Pa55-for-readiness"

    static func encoded(_ password: String) -> String {
        password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// Every form of every password that must not appear, with distinctive fragments of them (so a
    /// password cut at a special character is caught too).
    static let forbidden: [String] = [secret, encoded(secret), "Sup3r-S3cret", wrong, encoded(wrong), "Wr0ng-Gu3ss", defaultPassword]

    @Test func noLogOfAnyRunShowsTheRedisPassword() async throws {
        let server = try await RedisTestServer.start(
            password: Self.defaultPassword, appendOnly: true, extraArguments: ["--user", Self.user, "on", ">" + Self.secret, "~*", "&*", "+@all"])
        let prefix = TestKeys.uniquePrefix()
        let host = "127.0.0.1:\(server.port)"
        let redacted = "redis://\(Self.user):***@\(host)"
        func environment(password: String) -> [String: String] {
            ["FANOUT_REDIS_URL": "redis://\(Self.user):\(Self.encoded(password))@\(host)", "FANOUT_LOG_LEVEL": "trace", "FANOUT_KEY_PREFIX": prefix]
        }
        var logs: [(name: String, text: String)] = []

        // The right password: an edge and a worker serve a client.
        let edgePort = try RedisTestServer.freePort()
        let metricsPort = try RedisTestServer.freePort()
        let edge = try FanoutProcess(["edge", "--port", String(edgePort), "--edge-id", "secret"], environment: environment(password: Self.secret))
        let worker = try FanoutProcess(["worker", "--metrics-port", String(metricsPort)], environment: environment(password: Self.secret))
        @Sendable func ready() async -> Bool {
            let edgeStatus = await HTTPProbe.status(port: edgePort, path: "/readyz")
            let workerStatus = await HTTPProbe.status(port: metricsPort, path: "/readyz")
            return edgeStatus == 200 && workerStatus == 200
        }
        #expect(await eventually(within: .seconds(30)) { await ready() }, "not ready; edge log:\n\(edge.log.suffix(1500))\nworker log:\n\(worker.log.suffix(1500))")
        func echo(_ text: String) async throws {
            try await withTestClients(1, urls: ["ws://127.0.0.1:\(edgePort)/ws"]) { clients in
                try await clients[0].send(text: text)
                #expect(try await clients[0].nextText() == text)
            }
        }
        try await echo("before the restart")

        // Redis goes away and comes back: both processes log the loss and reconnect (with AUTH again).
        await server.kill()
        #expect(await eventually(within: .seconds(20)) { edge.log.contains("reconnecting") && worker.log.contains("reconnecting") })
        try await server.restart()
        #expect(await eventually(within: .seconds(30)) { await ready() }, "not ready after the Redis restart")
        try await echo("after the restart")

        let stats = try await FanoutBinary.run(["stats"], environment: environment(password: Self.secret))
        #expect(stats.code == 0, "fanout stats: \(stats.output)")
        logs.append(("stats", stats.output))

        // A wrong password: the processes say so, and `stats` fails with one line.
        let wrongEdge = try FanoutProcess(["edge", "--port", String(try RedisTestServer.freePort())], environment: environment(password: Self.wrong))
        let wrongWorker = try FanoutProcess(["worker", "--metrics-port", "0"], environment: environment(password: Self.wrong))
        #expect(await eventually(within: .seconds(20)) { wrongEdge.log.contains("WRONGPASS") && wrongWorker.log.contains("WRONGPASS") },
            "no authentication error logged; edge:\n\(wrongEdge.log.suffix(1500))\nworker:\n\(wrongWorker.log.suffix(1500))")
        let wrongStats = try await FanoutBinary.run(["stats"], environment: environment(password: Self.wrong))
        #expect(wrongStats.code != 0 && wrongStats.output.contains("WRONGPASS"), "fanout stats: \(wrongStats.output)")
        logs.append(("stats, wrong password", wrongStats.output))

        // A malformed URL (no `//`) is reported without its password.
        var malformed = environment(password: Self.secret)
        malformed["FANOUT_REDIS_URL"] = "redis:/\(Self.user):\(Self.secret)@\(host)"
        let malformedStats = try await FanoutBinary.run(["stats"], environment: malformed)
        #expect(malformedStats.code != 0 && malformedStats.output.contains("FANOUT_REDIS_URL"), "fanout stats: \(malformedStats.output)")
        logs.append(("stats, malformed URL", malformedStats.output))

        for process in [wrongEdge, wrongWorker, edge, worker] { #expect(await process.terminate() == 0) }
        logs += [("edge", edge.log), ("worker", worker.log), ("edge, wrong password", wrongEdge.log), ("worker, wrong password", wrongWorker.log)]

        for (name, text) in logs {
            #expect(!text.isEmpty, "\(name): nothing logged")
            for secret in Self.forbidden { #expect(!text.contains(secret), "\(name) logs a password (\(secret))") }
        }
        // The logs are verbose and do talk about this Redis, just not its password.
        let all = logs.map(\.text).joined(separator: "\n")
        #expect(all.contains(redacted), "no log names \(redacted)")
        #expect(edge.log.contains(" trace ") && worker.log.contains(" trace "), "not logging at trace level")
        #expect(wrongStats.output.contains(redacted) || wrongStats.output.contains(host), "fanout stats: \(wrongStats.output)")
    }

    static let sentinelSecret = "S3ntinel-Pa55/w%rd:x@y"
    static let wrongSentinel = "N0t-The-S3ntinel/pa55"

    @Test func noLogOfASentinelRunShowsEitherPassword() async throws {
        let setup = try await SentinelTestSetup.start(replicas: 0, sentinels: 1, password: Self.secret, sentinelPassword: Self.sentinelSecret)
        let prefix = TestKeys.uniquePrefix()
        let sentinel = setup.sentinels[0].address
        func environment(password: String = Self.secret, sentinelPassword: String = Self.sentinelSecret) -> [String: String] {
            [
                "FANOUT_REDIS_URL": "redis-sentinel://:\(Self.encoded(password))@\(sentinel)/\(setup.masterName)",
                "FANOUT_REDIS_SENTINEL_PASSWORD": sentinelPassword, "FANOUT_LOG_LEVEL": "trace", "FANOUT_KEY_PREFIX": prefix,
            ]
        }
        var logs: [(name: String, text: String)] = []
        let edgePort = try RedisTestServer.freePort()
        let metricsPort = try RedisTestServer.freePort()
        let edge = try FanoutProcess(["edge", "--port", String(edgePort), "--edge-id", "secret"], environment: environment())
        let worker = try FanoutProcess(["worker", "--metrics-port", String(metricsPort)], environment: environment())
        #expect(await eventually(within: .seconds(30)) {
            let edgeStatus = await HTTPProbe.status(port: edgePort, path: "/readyz")
            let workerStatus = await HTTPProbe.status(port: metricsPort, path: "/readyz")
            return edgeStatus == 200 && workerStatus == 200
        }, "not ready; edge log:\n\(edge.log.suffix(1500))\nworker log:\n\(worker.log.suffix(1500))")
        try await withTestClients(1, urls: ["ws://127.0.0.1:\(edgePort)/ws"]) { clients in
            try await clients[0].send(text: "through the sentinel")
            #expect(try await clients[0].nextText() == "through the sentinel")
        }
        let stats = try await FanoutBinary.run(["stats"], environment: environment())
        #expect(stats.code == 0, "fanout stats: \(stats.output)")
        logs.append(("stats", stats.output))

        // A wrong sentinel password, then a wrong data password: each one clear line, no secret.
        let wrongSentinelStats = try await FanoutBinary.run(["stats"], environment: environment(sentinelPassword: Self.wrongSentinel))
        #expect(wrongSentinelStats.code != 0 && wrongSentinelStats.output.contains("no sentinel reachable"), "\(wrongSentinelStats.output)")
        logs.append(("stats, wrong sentinel password", wrongSentinelStats.output))
        let wrongStats = try await FanoutBinary.run(["stats"], environment: environment(password: Self.wrong))
        #expect(wrongStats.code != 0 && wrongStats.output.contains("WRONGPASS"), "\(wrongStats.output)")
        logs.append(("stats, wrong password", wrongStats.output))
        let wrongEdge = try FanoutProcess(["edge", "--port", String(try RedisTestServer.freePort())], environment: environment(sentinelPassword: Self.wrongSentinel))
        #expect(await eventually(within: .seconds(20)) { wrongEdge.log.contains("no sentinel reachable") }, "\(wrongEdge.log.suffix(1500))")

        for process in [wrongEdge, edge, worker] { #expect(await process.terminate() == 0) }
        logs += [("edge", edge.log), ("worker", worker.log), ("edge, wrong sentinel password", wrongEdge.log)]
        let forbidden = Self.forbidden + [Self.sentinelSecret, Self.encoded(Self.sentinelSecret), "S3ntinel-Pa55", Self.wrongSentinel, "N0t-The-S3ntinel"]
        for (name, text) in logs {
            #expect(!text.isEmpty, "\(name): nothing logged")
            for secret in forbidden { #expect(!text.contains(secret), "\(name) logs a password (\(secret))") }
        }
        let redacted = "redis-sentinel://:***@\(sentinel)/\(setup.masterName)"
        #expect(logs.map(\.text).joined(separator: "\n").contains(redacted), "no log names \(redacted)")
    }
}
