import Logging
import NIOPosix
import FanoutTesting
import NIOCore
import Synchronization
import Testing

@testable import FanoutRedis

/// The client against a real redis-server.
@Suite struct RedisClientTests {
    @Test func decodesEveryReplyTypeFromARealServer() async throws {
        let server = try await RedisTestServer.shared()
        let key = TestKeys.uniquePrefix()
        try await RedisClient.withTestClient(server) { client in
            #expect(try await client.send(.ping()) == .simpleString("PONG"))
            #expect(try await client.send(RedisCommand("INCRBY", ["\(key):n", "7"])) == .integer(7))
            #expect(try await client.send(.get("\(key):missing")) == .null)
            _ = try await client.send(RedisCommand("RPUSH", ["\(key):l", "a", "b"]))
            #expect(try await client.send(RedisCommand("LRANGE", ["\(key):l", "0", "-1"]))
                == .array([.bulkString(ByteBuffer(string: "a")), .bulkString(ByteBuffer(string: "b"))]))
            let replies = try await client.pipeline([RedisCommand("NOSUCHCOMMAND"), .ping()])
            guard case .error(let message) = replies[0] else { Issue.record("expected an error reply"); return }
            #expect(message.hasPrefix("ERR unknown command"))
            #expect(replies[1] == .simpleString("PONG"))
        }
    }

    /// `coalescingAdapts` reaches the connection: a governor that has not yet found the delay
    /// paying writes at once (a 30 s delay would otherwise outlast the command timeout); without
    /// it, every write waits the delay.
    @Test func anAdaptiveCoalescingDelayIsNotAppliedUntilItPays() async throws {
        let server = try await RedisTestServer.shared()
        var adaptive = server.configuration
        adaptive.writeCoalescing = .seconds(30)
        adaptive.coalescingAdapts = true
        adaptive.commandTimeout = .seconds(5)
        try await RedisClient.withConnectedClient(configuration: adaptive, logger: Logger(label: "fanout.test.redis"), timeout: .seconds(5)) { client in
            for _ in 0..<3 {
                let reply = try await client.send(.ping())
                #expect(reply == .simpleString("PONG"))
            }
        }
        var fixed = server.configuration
        fixed.writeCoalescing = .milliseconds(200)
        fixed.coalescingAdapts = false
        try await RedisClient.withConnectedClient(configuration: fixed, logger: Logger(label: "fanout.test.redis"), timeout: .seconds(5)) { client in
            let start = ContinuousClock.now
            let reply = try await client.send(.ping())
            #expect(reply == .simpleString("PONG"))
            #expect(ContinuousClock.now - start >= .milliseconds(200), "the write waited the delay")
        }
    }

    /// Payloads that break text-based clients; named, so the test log does not print a mebibyte.
    enum Payload: String, CaseIterable, Sendable {
        case nulBytes, invalidUTF8, oneMebibyte
        var bytes: [UInt8] {
            switch self {
            case .nulBytes: [0x00, 0x01, 0x00]
            case .invalidUTF8: [0xFF, 0xFE, 0xC3, 0x28, 0x0D, 0x0A]
            case .oneMebibyte: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            }
        }
    }

    @Test(arguments: Payload.allCases)
    func roundTripsBinaryPayloadsByteForByte(_ payload: Payload) async throws {
        let payload = payload.bytes
        let server = try await RedisTestServer.shared()
        let key = TestKeys.uniquePrefix()
        try await RedisClient.withTestClient(server) { client in
            _ = try await client.send(.set("\(key):bin", ByteBuffer(bytes: payload)))
            #expect(try await client.send(.get("\(key):bin")) == .bulkString(ByteBuffer(bytes: payload)))
            let id = try await client.xadd("\(key):s", fields: [("payload", ByteBuffer(bytes: payload))])
            let entries = try await client.xrange("\(key):s")
            #expect(entries.map(\.id) == [id])
            #expect(entries.first?["payload"] == ByteBuffer(bytes: payload))
        }
    }

    @Test func matchesTenThousandRepliesFromOneHundredConcurrentTasks() async throws {
        let server = try await RedisTestServer.shared()
        try await RedisClient.withTestClient(server) { client in
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<100 {
                    group.addTask {
                        var mismatches = 0
                        for index in 0..<100 {
                            let token = "task-\(task)-command-\(index)"
                            if try await client.send(RedisCommand("ECHO", [token])).string != token { mismatches += 1 }
                        }
                        return mismatches
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
        }
    }

    @Test func serverErrorCarriesRedisText() async throws {
        let server = try await RedisTestServer.shared()
        let key = TestKeys.uniquePrefix()
        try await RedisClient.withTestClient(server) { client in
            _ = try await client.send(.set("\(key):str", ByteBuffer(string: "x")))
            let error = await #expect(throws: RedisError.self) { try await client.send(.sadd("\(key):str", ["m"])) }
            #expect(error?.code == .server)
            #expect(error?.serverErrorPrefix == "WRONGTYPE")
            #expect(error?.command == "SADD")
            #expect(error?.isRetryable == false)
        }
    }

    @Test func commandTimeoutFailsTheCommandAndTheClientRecovers() async throws {
        let server = try await RedisTestServer.start(extraArguments: ["--enable-debug-command", "yes"])
        var configuration = server.configuration
        configuration.commandTimeout = .milliseconds(300)
        let client = RedisClient(configuration: configuration, logger: .init(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            try await client.waitUntilConnected(timeout: .seconds(5))
            let start = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) { try await client.send(RedisCommand("DEBUG", ["SLEEP", "1"])) }
            #expect(error?.code == .timedOut)
            #expect(ContinuousClock.now - start < .seconds(1))
            try await client.waitUntilConnected(timeout: .seconds(5))
            #expect(try await client.send(.ping()) == .simpleString("PONG"))
            client.stop()
            group.cancelAll()
        }
    }

    @Test func noServerListeningIsAConnectionErrorWithinTheConnectTimeout() async throws {
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(try RedisTestServer.freePort())")
        configuration.connectTimeout = .seconds(1)
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) {
            _ = try await RedisConnection.connect(configuration: configuration, eventLoop: NIOSingletons.posixEventLoopGroup.next(), logger: .init(label: "t"))
        }
        #expect(error?.code == .connectionRefused)
        #expect(error?.message.contains("nothing listens there") == true, "\(String(describing: error))")
        #expect(error?.isRetryable == true)
        #expect(ContinuousClock.now - start < .seconds(1))
    }
}
