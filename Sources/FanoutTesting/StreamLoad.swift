public import FanoutCore
public import FanoutRedis
import Foundation
import NIOCore

/// Load for the queue where the edge is not the point: `message` entries appended straight to
/// `<prefix>:inbound` with pipelined XADDs, the same fields and `MAXLEN ~` guard an edge writes.
public enum StreamLoad {
    /// Appends `count` entries, `chunk` per pipeline with `pause` between pipelines, spread over
    /// 64 connections of edge `load`; `payload(i)` is the i-th entry's text (default: `m<i>`).
    /// Returns the new IDs in order.
    @discardableResult
    public static func append(
        _ count: Int, to keySpace: KeySpace, redis: RedisClient, chunk: Int = 2_000, pause: Duration = .zero,
        maxLength: Int? = 1_000_000, payload: @Sendable (Int) -> String = { "m\($0)" }
    ) async throws -> [String] {
        let edge = EdgeID("load")!
        let connections = (0..<64).map { ConnectionID("load.c\($0)")! }
        var ids: [String] = []
        ids.reserveCapacity(count)
        var start = 0
        while start < count {
            let end = min(count, start + chunk)
            let commands = (start..<end).map { index in
                InboundEntry(
                    kind: .message, connection: connections[index % connections.count], edge: edge, frameType: .text,
                    receivedAt: WallClock.microseconds(), payload: ByteBuffer(string: payload(index))
                ).xadd(to: keySpace.inbound, maxLength: maxLength)
            }
            for reply in try await redis.pipeline(commands) {
                guard let id = reply.string, !id.isEmpty, case .bulkString = reply else {
                    throw TestServerError("XADD failed: \(reply)")
                }
                ids.append(id)
            }
            start = end
            if pause > .zero, count > start { try await Task.sleep(for: pause) }
        }
        return ids
    }

    /// Appends `count` entries through `redis-cli --pipe`, with payloads `m<9 digits>` numbered
    /// from `first`: for loads of hundreds of thousands, where a debug build's per-command work
    /// dominates. One entry is encoded by `InboundEntry.XADD` (the one statement of the fields)
    /// with fixed-width placeholders, and the rest are that template with the numbers filled in.
    /// Read IDs back with XRANGE where needed.
    public static func pipe(_ count: Int, to keySpace: KeySpace, port: Int, first: Int = 0, maxLength: Int? = 1_000_000) async throws {
        precondition(first + count < 1_000_000_000, "payload numbers have 9 digits")
        var template = ByteBuffer()
        InboundEntry.XADD(
            InboundEntry(
                kind: .message, connection: ConnectionID("load.cXX")!, edge: EdgeID("load")!, frameType: .text,
                receivedAt: WallClock.microseconds(), payload: ByteBuffer(string: "m#########")),
            stream: keySpace.inbound, maxLength: maxLength
        ).writeRESP(into: &template)
        let text = String(buffer: template)
        let (head, afterConnection) = text.splitOnce("load.cXX")
        let (middle, tail) = afterConnection.splitOnce("m#########")
        var resp = ""
        resp.reserveCapacity(count * (text.utf8.count + 2))
        for index in first..<(first + count) {
            let number = String(index)
            let connection = String(index % 64)
            resp += head
            resp += "load.c" + (connection.count == 1 ? "0" : "") + connection
            resp += middle
            resp += "m" + String(repeating: "0", count: max(0, 9 - number.count)) + number
            resp += tail
        }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-load-\(UUID().uuidString.prefix(8)).resp")
        let output = input.appendingPathExtension("out")
        defer {
            try? FileManager.default.removeItem(at: input)
            try? FileManager.default.removeItem(at: output)
        }
        try Data(resp.utf8).write(to: input)
        let process = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", #"exec "$0" -h 127.0.0.1 -p "$1" --pipe <"$2""#, try RedisCLI.executable(), String(port), input.path],
            environment: ProcessInfo.processInfo.environment, outputPath: output.path)
        let code = await process.waitForExit(timeout: .seconds(120))
        let report = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard code == 0, report.contains("errors: 0, replies: \(count)") else {
            throw TestServerError("redis-cli --pipe of \(count) XADDs failed (\(code.map(String.init) ?? "timed out")): \(report)")
        }
    }

    /// The IDs of every entry in `<prefix>:inbound`, read in pages of `page` (one reply of 50,000
    /// entries can outlast a test's command timeout on a loaded machine).
    public static func ids(_ keySpace: KeySpace, redis: RedisClient, page: Int = 5_000) async throws -> [String] {
        var ids: [String] = []
        var start = "-"
        while true {
            let entries = try await redis.xrange(keySpace.inbound, start: start, count: page)
            ids += entries.map(\.id)
            guard entries.count == page, let last = entries.last.flatMap({ StreamID($0.id) }) else { return ids }
            start = last.successor.description
        }
    }

    /// Lag + pending of group `workers` (the backlog), from XINFO GROUPS.
    public static func backlog(_ keySpace: KeySpace, redis: RedisClient) async throws -> Int {
        guard let group = try await redis.xinfoGroups(keySpace.inbound).first(where: { $0.name == KeySpace.workerGroup }) else {
            return try await redis.xlen(keySpace.inbound)
        }
        return (group.lag ?? Int.max / 2) + group.pending
    }
}

extension String {
    /// The parts before and after the first `separator` (which must occur).
    fileprivate func splitOnce(_ separator: String) -> (String, String) {
        let range = self.range(of: separator)!
        return (String(self[..<range.lowerBound]), String(self[range.upperBound...]))
    }
}
