import FanoutTesting
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import FanoutRedis

/// Sentinel discovery, failover and `WAIT` against real redis-server and redis-sentinel processes.
@Suite(.serialized) struct SentinelClientTests {
    let logger = Logger(label: "fanout.test.sentinel")

    @Test func aClientAndASubscriberFollowTheSentinelsToTheNewMaster() async throws {
        let setup = try await SentinelTestSetup.start()
        let key = TestKeys.uniquePrefix()
        let events = SubscriberEvents()
        let subscriber = RedisSubscriber(configuration: setup.configuration, logger: logger) { events.record($0) }
        try await RedisClient.withConnectedClient(configuration: setup.configuration, logger: logger, timeout: .seconds(10)) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await subscriber.run() }
                defer {
                    subscriber.stop()
                    group.cancelAll()
                }
                #expect(try await eventually { subscriber.isReady })
                try await subscriber.subscribe(["\(key):news"])
                _ = try await client.send(.set("\(key):k", ByteBuffer(string: "before")))
                #expect(try await client.send(RedisCommand("WAIT", ["2", "2000"])).int == 2)

                await setup.servers[0].kill()
                let promoted = try #require(await setup.waitForPromotion(from: setup.servers[0]))
                // The client reconnects to the promoted replica, which kept the value.
                #expect(try await eventually(within: .seconds(10)) {
                    (try? await client.send(.get("\(key):k"))) == .bulkString(ByteBuffer(string: "before"))
                })
                let role = try await client.send(RedisCommand("ROLE"))
                #expect(role.array?.first?.string == "master")
                #expect(try await client.send(RedisCommand("CONFIG", ["GET", "port"])).array?.last?.string == String(promoted.port))
                // The subscriber restored its subscription there.
                #expect(try await eventually(within: .seconds(10)) { events.restored > 0 && subscriber.isReady })
                #expect(try await eventually {
                    _ = try await client.send(.publish("\(key):news", ByteBuffer(string: "after")))
                    return events.messages.contains("after")
                })
            }
        }
    }

    @Test func minReplicasHoldsEachBatchsRepliesForOneWaitAndFailsThemWhenReplicasAreMissing() async throws {
        let master = try await RedisTestServer.start()
        let replica = try await RedisTestServer.start(extraArguments: ["--replicaof", "127.0.0.1", String(master.port)])
        var configuration = master.configuration
        configuration.minReplicas = 1
        // Generous while the replica is up: WAIT returns as soon as it acknowledges, and a loaded
        // box (CI runs suites in parallel on two cores) can take longer than a short timeout.
        configuration.minReplicasTimeout = .seconds(10)
        let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        defer { connection.close() }
        let key = TestKeys.uniquePrefix()
        #expect(try await eventually { (try? await connection.send(RedisCommand("WAIT", ["1", "100"])))?.int == 1 })

        // A batch of marked XADDs and one unmarked: all answered, the marked ones after one WAIT.
        let receiver = ReplyCollector(eventLoop: connection.eventLoop)
        let replies = try await receiver.collect(count: 11) {
            for tag in 0..<10 { connection.enqueue(RedisCommand.xadd("\(key):s", fields: [("n", ByteBuffer(string: "\(tag)"))]), receiver: receiver, tag: tag, replicated: true) }
            connection.enqueue(RedisCommand.ping(), receiver: receiver, tag: 100)
        }
        #expect(replies.filter { $0.tag < 100 }.allSatisfy { $0.error == nil }, "\(replies)")
        #expect(replies.first?.tag == 100, "the unmarked PING is not held behind the WAIT")
        #expect(replies.filter { $0.tag < 100 }.map { $0.tag } == Array(0..<10), "held replies keep their order")
        #expect(try await connection.send(.xlen("\(key):s")).int == 10)

        // Without a replica, marked commands run on the master but are failed as not replicated
        // (a connection with a short timeout: this WAIT always runs to its end).
        await replica.kill()
        configuration.minReplicasTimeout = .milliseconds(300)
        let short = try await RedisConnection.connect(configuration: configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        defer { short.close() }
        let shortReceiver = ReplyCollector(eventLoop: short.eventLoop)
        let failed = try await shortReceiver.collect(count: 2) {
            short.enqueue(RedisCommand.xadd("\(key):s", fields: [("n", ByteBuffer(string: "lonely"))]), receiver: shortReceiver, tag: 200, replicated: true)
            short.enqueue(RedisCommand("NOSUCHCOMMAND"), receiver: shortReceiver, tag: 201, replicated: true)
        }
        #expect(failed.first { $0.tag == 200 }?.error?.code == .notReplicated, "\(failed)")
        #expect(failed.first { $0.tag == 201 }?.error == nil, "an error reply is delivered as it is")
        #expect(short.isActive, "a WAIT that falls short is an answer, not a broken connection")
    }

    @Test func aReadOnlyReplyClosesTheConnectionSoItsOwnerReconnects() async throws {
        let master = try await RedisTestServer.start()
        let replica = try await RedisTestServer.start(extraArguments: ["--replicaof", "127.0.0.1", String(master.port)])
        let connection = try await RedisConnection.connect(configuration: replica.configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
        let reply = try await connection.sendFuture(.set("k", ByteBuffer(string: "v"))).get()
        guard case .error(let message) = reply else { Issue.record("expected READONLY, got \(reply)"); return }
        #expect(message.hasPrefix("READONLY"))
        try await withTimeout(.seconds(5), "connection closed") { try await connection.closeFuture.get() }
    }

    @Test func noSentinelReachableAWrongMasterNameAndADeadMasterAreEachAClearRetryableError() async throws {
        let deadPort = try RedisTestServer.freePort()
        let sentinel = try await SentinelTestServer.start(masterName: "ghost", masterPort: deadPort)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        func connect(_ url: String) async -> RedisError? {
            do {
                var configuration = try RedisConfiguration(url: url)
                configuration.connectTimeout = .milliseconds(500)
                let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: loop, logger: logger)
                connection.close()
                return nil
            } catch {
                return error
            }
        }
        let nowhere = [try RedisTestServer.freePort(), try RedisTestServer.freePort()].map { "127.0.0.1:\($0)" }
        let none = try #require(await connect("redis-sentinel://\(nowhere.joined(separator: ","))/ghost"))
        #expect(none.code == .noSentinel && none.isRetryable)
        #expect(none.message.contains(nowhere[0]) && none.message.contains(nowhere[1]), "\(none)")

        let wrongName = try #require(await connect("redis-sentinel://\(nowhere[0]),\(sentinel.address)/nope"))
        #expect(wrongName.code == .unknownMaster && wrongName.isRetryable)
        #expect(wrongName.message.contains("no sentinel knows a master named 'nope'"), "\(wrongName)")

        let dead = try #require(await connect("redis-sentinel://\(nowhere[0]),\(sentinel.address)/ghost"))
        #expect(dead.code == .connectionRefused && dead.isRetryable)
        #expect(dead.message.contains("master 'ghost' at 127.0.0.1:\(deadPort), as sentinel \(sentinel.address) names it"), "\(dead)")
    }
}

/// Events of a `RedisSubscriber`, counted for assertions.
final class SubscriberEvents: Sendable {
    private let state = Mutex<(messages: [String], restored: Int)>(([], 0))
    func record(_ event: RedisSubscriberEvent) {
        state.withLock {
            switch event {
            case .message(_, let payload): $0.messages.append(String(buffer: payload))
            case .restored: $0.restored += 1
            default: break
            }
        }
    }
    var messages: [String] { state.withLock { $0.messages } }
    var restored: Int { state.withLock { $0.restored } }
}

/// A loop-local reply receiver that hands the replies of one batch to an async test.
final class ReplyCollector: RedisReplyReceiver, @unchecked Sendable {
    // @unchecked: `replies` and `promise` are touched on `eventLoop` only (enqueue and replies both run there).
    struct Reply: Sendable, CustomStringConvertible {
        let tag: Int
        let error: RedisError?
        var description: String { "\(tag): \(error.map { "\($0)" } ?? "ok")" }
    }
    let eventLoop: any EventLoop
    private var replies: [Reply] = []
    private var expected = 0
    private var promise: EventLoopPromise<[Reply]>?

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Runs `enqueue` on the loop and returns the next `count` replies in arrival order.
    func collect(count: Int, _ enqueue: @escaping @Sendable () -> Void) async throws -> [Reply] {
        let promise = eventLoop.makePromise(of: [Reply].self)
        eventLoop.execute {
            self.replies = []
            self.expected = count
            self.promise = promise
            enqueue()
        }
        return try await withTimeout(.seconds(10), "replies") { try await promise.futureResult.get() }
    }

    func redisReply(_ reply: RedisValue, tag: Int) { add(Reply(tag: tag, error: nil)) }
    func redisFailure(_ error: RedisError, tag: Int) { add(Reply(tag: tag, error: error)) }

    private func add(_ reply: Reply) {
        replies.append(reply)
        if replies.count == expected, let promise {
            self.promise = nil
            promise.succeed(replies)
        }
    }
}
