import FanoutCore
import FanoutRedis
import NIOCore

/// Graceful shutdown's exact drain: waits until every entry this edge appended to an inbound
/// stream (one wait per partition) has been acknowledged by a worker.
///
/// Workers publish an entry's results before they acknowledge it (XACK), so once that holds,
/// every result for this edge's clients has been published — and, after one round trip on each
/// subscriber (`RedisSubscriber.barrier()`), received. The edge stops taking frames first and
/// waits until its in-flight XADDs have been answered, so its last entry is at or below the
/// stream's last ID read here; then it polls:
/// - the group has delivered up to that ID (nothing of ours is still waiting to be read), and
/// - no pending entry at or below it was appended by this edge (entries of other edges, pending
///   behind a stuck worker, do not hold it up).
struct AcknowledgementWait {
    let redis: RedisClient
    let stream: String
    let edgeID: EdgeID
    /// Pending entries examined per poll; more than this still pending means "not yet".
    static let pendingWindow = 1000
    static let pollInterval = Duration.milliseconds(20)

    /// `true` once every entry is acknowledged, `false` at `deadline` or when Redis cannot tell.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        guard let last = try? await redis.xinfoStream(stream)?.lastGeneratedID else { return false }
        while ContinuousClock.now < deadline {
            if (try? await acknowledged(upTo: last)) == true { return true }
            try? await Task.sleep(for: Self.pollInterval)
        }
        return false
    }

    private func acknowledged(upTo last: String) async throws -> Bool {
        guard let group = try await redis.xinfoGroups(stream).first(where: { $0.name == KeySpace.workerGroup }) else { return false }
        guard Self.compare(group.lastDeliveredID, last) >= 0 else { return false }
        let pending = try await redis.send(.xpending(stream, group: KeySpace.workerGroup, start: "-", end: last, count: Self.pendingWindow))
        let ids = try PendingEntry.decodeList(pending).map(\.id)
        if ids.isEmpty { return true }
        if ids.count >= Self.pendingWindow { return false }
        // Whose are they? One XRANGE per pending entry, in one pipeline.
        let replies = try await redis.pipeline(ids.map { .xrange(stream, start: $0, end: $0) })
        for reply in replies {
            let entries = (try? StreamEntry.decodeRange(reply)) ?? []
            if entries.contains(where: { $0["edge"].map { String(buffer: $0) } == edgeID.rawValue }) { return false }
        }
        return true
    }

    /// Orders two stream IDs (`<ms>-<seq>`).
    static func compare(_ a: String, _ b: String) -> Int {
        func parts(_ id: String) -> (UInt64, UInt64) {
            let pieces = id.split(separator: "-")
            return (UInt64(pieces.first ?? "0") ?? 0, UInt64(pieces.count > 1 ? pieces[1] : "0") ?? 0)
        }
        let (x, y) = (parts(a), parts(b))
        if x == y { return 0 }
        return x < y ? -1 : 1
    }
}
