import FanoutClient
import FanoutCore
import FanoutRedis
import NIOCore
import FanoutTesting
import Foundation
import Synchronization
import Testing

/// A rolling restart loses no reply (issue 15): SIGTERM to an edge under load, real processes.
@Suite(.serialized) struct DrainTests {
    /// One client's count: every message it sent was answered (echo) or refused, before the 1001.
    struct Tally: Sendable {
        var sent = 0, answered = 0, refused = 0, closeCode: UInt16?
        /// Messages neither answered nor refused, by number (1-based), with their text.
        var unanswered: [(number: Int, text: String)] = []
        /// The highest number that was answered or refused.
        var lastSettled = 0
    }

    @Test func sigtermToAnEdgeUnderLoadAnswersOrRefusesEveryMessageBeforeItsClose() async throws {
        let server = try await RedisTestServer.shared()
        let prefix = TestKeys.uniquePrefix()
        let port = try RedisTestServer.freePort()
        let edge = try await FanoutProcess.edge(redisURL: server.url, prefix: prefix, port: port, edgeID: "edge0")
        // Trimming off: the test reads every accepted message back from the stream.
        let worker = try FanoutProcess.worker(
            redisURL: server.url, prefix: prefix, environment: ["FANOUT_BLOCK_MS": "200", "FANOUT_TRIM_INTERVAL_MS": "0"])
        let answeredSoFar = SharedCounter()
        let tallies = try await withTestClients(50, urls: ["ws://127.0.0.1:\(port)/ws"]) { clients in
            try await withThrowingTaskGroup(of: Tally.self) { group in
                for (index, client) in clients.enumerated() {
                    group.addTask { try await Self.sendEvery20ms(client, index: index, answered: answeredSoFar) }
                }
                group.addTask {
                    // SIGTERM once messages are flowing (not after a fixed time: on a busy machine
                    // the clients can take a while to get going, and a drain with nothing in
                    // flight refuses nothing).
                    #expect(await eventually(within: .seconds(30)) { answeredSoFar.value >= 1000 })
                    #expect(await edge.terminate() == 0)
                    return Tally()
                }
                var all: [Tally] = []
                for try await tally in group where tally.closeCode != nil || tally.sent > 0 { all.append(tally) }
                return all
            }
        }
        // What the edge accepted is exactly what it appended to the stream.
        let accepted = try await RedisClient.withTestClient(server) { (redis: RedisClient) async throws -> Set<String> in
            Set(try await redis.xrange("\(prefix):inbound").compactMap { entry -> String? in
                guard entry["kind"].map({ String(buffer: $0) }) == "message" else { return nil }
                return entry["payload"].map { String(buffer: $0) }
            })
        }
        let sent = tallies.map(\.sent).reduce(0, +), answered = tallies.map(\.answered).reduce(0, +)
        let refused = tallies.map(\.refused).reduce(0, +)
        let unanswered = tallies.flatMap(\.unanswered)
        let lost = unanswered.filter { accepted.contains($0.text) }
        // A message that crossed the edge's close frame on the wire was never accepted (and the
        // edge may send nothing after its close): only a client's very last messages can be such.
        let crossedLate = tallies.allSatisfy { tally in tally.unanswered.allSatisfy { $0.number > tally.lastSettled } }
        print("drain: SIGTERM to an edge under load: sent \(sent), answered \(answered), refused \(refused), accepted and lost \(lost.count), crossed the close frame (never accepted) \(unanswered.count - lost.count)")
        #expect(tallies.count == 50)
        #expect(tallies.allSatisfy { $0.closeCode == CloseCode.goingAway })
        #expect(lost.isEmpty, "accepted, never answered: \(lost.prefix(5).map(\.text))")
        #expect(crossedLate, "an unanswered message before an answered one")
        #expect(sent == answered + refused + unanswered.count)
        #expect(refused > 0, "frames after SIGTERM are refused explicitly")
        _ = await worker.terminate()
    }

    /// Sends `c<index>-<n>` every 20 ms until the edge closes the connection, counting the echoes
    /// and `{"type":"error",…,"seq":N}` refusals that arrive before the close.
    static func sendEvery20ms(_ client: TestClient, index: Int, answered: SharedCounter) async throws -> Tally {
        var tally = Tally()
        var pending: [String: Int] = [:]
        var refused = Set<Int>()
        func absorb(_ event: FanoutClient.Event) {
            switch event {
            case .message(_, let bytes):
                let text = String(buffer: bytes)
                if text.hasPrefix(#"{"type":"error""#), let range = text.range(of: #""seq":"#),
                    let sequence = Int(text[range.upperBound...].prefix { $0.isNumber })
                {
                    refused.insert(sequence)
                    tally.lastSettled = max(tally.lastSettled, sequence)
                } else if let number = pending.removeValue(forKey: text) {
                    tally.answered += 1
                    answered.add(1)
                    tally.lastSettled = max(tally.lastSettled, number)
                }
            case .closed(let code, _):
                tally.closeCode = code
            default:
                break
            }
        }
        while tally.closeCode == nil {
            let message = "c\(index)-\(tally.sent)"
            do {
                try await client.send(text: message)
            } catch {
                break  // closed between two events
            }
            tally.sent += 1
            pending[message] = tally.sent
            let next = ContinuousClock.now + .milliseconds(20)
            while tally.closeCode == nil, ContinuousClock.now < next,
                let event = try? await client.nextEvent(timeout: next - ContinuousClock.now)
            {
                absorb(event)
            }
        }
        while tally.closeCode == nil, let event = try? await client.nextEvent(timeout: .seconds(15)) { absorb(event) }
        tally.refused = refused.count
        tally.unanswered = pending.filter { !refused.contains($0.value) }.map { ($0.value, $0.key) }.sorted { $0.number < $1.number }
        return tally
    }
}
