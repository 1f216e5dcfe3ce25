import Logging
import NIOPosix
import FanoutTesting
import NIOCore
import Synchronization
import Testing

@testable import FanoutRedis

/// Records subscriber events for assertions; fed on the subscriber's event loop.
final class EventRecorder: Sendable {
    struct State {
        var messages: [(channel: String, payload: ByteBuffer)] = []
        var disconnects = 0
        var restored: [Int] = []
        /// Channels the test has seen UNSUBSCRIBE confirmed for; a later message for one is a violation.
        var unsubscribed: Set<String> = []
        var violations = 0
    }
    let state = Mutex(State())

    func record(_ event: RedisSubscriberEvent) {
        state.withLock { state in
            switch event {
            case .message(let channelBytes, let payload):
                let channel = String(buffer: channelBytes)
                if state.unsubscribed.contains(channel) { state.violations += 1 }
                state.messages.append((channel, payload))
            case .endOfBatch: break
            case .disconnected: state.disconnects += 1
            case .restored(let count): state.restored.append(count)
            }
        }
    }
}

/// Waits for `condition` with a bounded deadline, checking whenever the caller's events may have changed it.
func eventually(within timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

@Suite struct RedisSubscriberTests {
    @Test func aBarrierCompletesAfterEverythingPublishedBeforeItSubscribedOrNot() async throws {
        let server = try await RedisTestServer.shared()
        let channel = "\(TestKeys.uniquePrefix()):barrier"
        let recorder = EventRecorder()
        let subscriber = RedisSubscriber(configuration: server.configuration, logger: .init(label: "t"), onEvent: recorder.record)
        try await RedisClient.withTestClient(server) { publisher in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await subscriber.run() }
                #expect(try await eventually { subscriber.isReady })
                // Not subscribed to anything: Redis answers PING <token> with the bare token.
                try await subscriber.barrier().get()
                try await subscriber.subscribe([channel])
                for index in 0..<100 { _ = try await publisher.send(.publish(channel, ByteBuffer(string: "m\(index)"))) }
                // Subscribed: ["pong", token], after all 100 messages.
                try await subscriber.barrier().get()
                #expect(recorder.state.withLock { $0.messages.count } == 100)
                subscriber.stop()
                group.cancelAll()
            }
        }
    }

    @Test func subscribesAndUnsubscribesAThousandChannelsWhileMessagesFlow() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let channels = (0..<1000).map { "\(prefix):ch:\($0)" }
        let recorder = EventRecorder()
        let subscriber = RedisSubscriber(configuration: server.configuration, logger: .init(label: "t"), onEvent: recorder.record)
        try await RedisClient.withTestClient(server) { publisher in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await subscriber.run() }
                #expect(try await eventually { subscriber.isReady })
                let publishing = Atomic<Bool>(true)
                group.addTask {
                    var round = 0
                    while publishing.load(ordering: .relaxed) {
                        _ = try await publisher.pipeline(channels.map { .publish($0, ByteBuffer(string: "r\(round)")) })
                        round += 1
                    }
                }
                // Subscribe one channel per call, 1,000 calls in flight at once, while messages flow.
                try await withThrowingTaskGroup(of: Void.self) { subscribes in
                    for channel in channels { subscribes.addTask { try await subscriber.subscribe([channel]) } }
                    try await subscribes.waitForAll()
                }
                #expect(await subscriber.activeChannels().count == 1000)
                #expect(try await eventually {
                    Set(recorder.state.withLock { $0.messages.map(\.channel) }).count == 1000
                })
                // Unsubscribe the even channels one by one, still under traffic.
                try await withThrowingTaskGroup(of: Void.self) { unsubscribes in
                    for channel in channels.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
                        unsubscribes.addTask {
                            try await subscriber.unsubscribe([channel])
                            _ = recorder.state.withLock { $0.unsubscribed.insert(channel) }
                        }
                    }
                    try await unsubscribes.waitForAll()
                }
                let countAfterUnsubscribe = recorder.state.withLock { $0.messages.count }
                // Traffic continues: the odd channels keep receiving.
                #expect(try await eventually { recorder.state.withLock { $0.messages.count } > countAfterUnsubscribe + 2000 })
                publishing.store(false, ordering: .relaxed)
                #expect(await subscriber.activeChannels().count == 500)
                #expect(recorder.state.withLock { $0.violations } == 0)
                subscriber.stop()
                group.cancelAll()
            }
        }
    }

    @Test func commandConnectionAndSubscriberRecoverAfterTheServerIsKilledAndRestarted() async throws {
        let server = try await RedisTestServer.start()
        let prefix = TestKeys.uniquePrefix()
        let channels = (0..<10).map { "\(prefix):ch:\($0)" }
        let recorder = EventRecorder()
        let events = Mutex<[RedisConnectionEvent]>([])
        let subscriber = RedisSubscriber(configuration: server.configuration, logger: .init(label: "t"), onEvent: recorder.record)
        let client = RedisClient(configuration: server.configuration, logger: .init(label: "t")) { event in
            events.withLock { $0.append(event) }
        }
        let blockingReader = RedisClient(configuration: server.configuration, logger: .init(label: "t"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            group.addTask { try await blockingReader.run() }
            group.addTask { try await subscriber.run() }
            try await client.waitUntilConnected(timeout: .seconds(5))
            try await blockingReader.waitUntilConnected(timeout: .seconds(5))
            #expect(try await eventually { subscriber.isReady })
            try await subscriber.subscribe(channels)
            try await client.xgroupCreate("\(prefix):s", group: "g")

            // A blocking read is in flight when the server dies: it must fail promptly, not hang.
            async let inFlight: Result<[StreamEntry], any Error> = {
                do { return .success(try await blockingReader.xreadgroup("\(prefix):s", group: "g", consumer: "c", count: 1, block: .seconds(30))) }
                catch { return .failure(error) }
            }()
            try await Task.sleep(for: .milliseconds(100))  // let the XREADGROUP reach the server
            let killedAt = ContinuousClock.now
            await server.kill()
            let outcome = await inFlight
            #expect(ContinuousClock.now - killedAt < .seconds(2))
            guard case .failure(let error as RedisError) = outcome else { Issue.record("expected a Redis error, got \(outcome)"); return }
            #expect(error.isRetryable)

            #expect(try await eventually { !client.isConnected && !subscriber.isReady })
            let whileDown = await #expect(throws: RedisError.self) { try await client.send(.ping()) }
            #expect(whileDown?.isRetryable == true)

            try await server.restart()
            try await client.waitUntilConnected(timeout: .seconds(10))
            #expect(try await eventually { subscriber.isReady })
            #expect(try await eventually { recorder.state.withLock { $0.restored } == [10] })
            #expect(recorder.state.withLock { $0.disconnects } == 1)
            #expect(events.withLock { $0.contains { if case .connected(reconnect: true) = $0 { true } else { false } } })

            for channel in channels { #expect(try await client.publish(channel, ByteBuffer(string: "after")) == 1) }
            #expect(try await eventually { recorder.state.withLock { $0.messages.count } == 10 })
            client.stop()
            blockingReader.stop()
            subscriber.stop()
            group.cancelAll()
        }
        await server.stop()
    }
}
