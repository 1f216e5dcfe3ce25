import FanoutCore
public import FanoutRedis
public import Logging

/// Trims an inbound stream (one per partition) down to what some consumer group has not processed yet plus a
/// retention, and `<prefix>:dead` to its own retention; run from the worker's read loop at most
/// once per `trimInterval` (decision 0020).
///
/// With several inbound partitions there is one per partition and worker: each partition has a
/// lease and trim report of its own, and partition 0's trimmer also trims the dead letters.
///
/// Every worker has one. A pass reads one MULTI/EXEC snapshot (`TrimSnapshot`) that also tries
/// the lease, `SET <prefix>:trim-lease <consumer> NX PX <interval>`. Every worker records a
/// retention mark from it (`RetentionMarks`); only the lease holder goes on: XPENDING for every
/// group, the cutoff (`TrimCutoff`), `XTRIM … MINID ~` repeated while it removes something, and
/// the check for entries lost before delivery. The lease saves work, not correctness: a cutoff is
/// safe whoever computes it, so an expired lease costs at most a second trimmer.
///
/// It keeps Redis responsive: with `~` each XTRIM removes whole nodes and stops after Redis's
/// default limit (100 nodes' worth of entries), and a pass makes at most `maxRounds` per stream.
public struct StreamTrimmer: Sendable {
    /// What one pass did (for tests and logs).
    public struct Report: Sendable, Hashable {
        /// `false`: another worker holds the lease; only a retention mark was recorded.
        public var heldLease = false
        public var inbound: TrimCutoff.Decision = .keepAll
        public var dead: TrimCutoff.Decision = .keepAll
        public var inboundRemoved = 0
        public var deadRemoved = 0
        /// Entries newly found removed before their group received them, by group.
        public var lostBeforeDelivery: [String: Int] = [:]
    }

    /// XTRIM calls per stream and pass at most (each removes up to ~10,000 entries).
    static let maxRounds = 100

    private let redis: RedisClient
    private let configuration: WorkerConfiguration
    /// The inbound partition trimmed (0 also trims the dead letters).
    private let partition: Int
    private let stream: String
    private let counters: WorkerCounters
    private let logger: Logger
    private var inboundMarks: RetentionMarks
    private var deadMarks: RetentionMarks
    private var lastPass: ContinuousClock.Instant?
    /// Entries this trimmer removed, per stream: stands in for `entries-added` before Redis 7.
    /// (It undercounts what others removed, which only makes the marks more conservative.)
    private var removedInbound = 0
    private var removedDead = 0

    private var keySpace: KeySpace { configuration.common.keySpace }

    /// - Parameter redis: a connected command client (the worker's own, shared with its XACKs).
    public init(configuration: WorkerConfiguration, partition: Int = 0, redis: RedisClient, counters: WorkerCounters, logger: Logger) {
        self.configuration = configuration
        self.partition = partition
        self.stream = configuration.common.keySpace.inboundStreams[partition]
        self.redis = redis
        self.counters = counters
        self.logger = logger
        self.inboundMarks = RetentionMarks(retention: configuration.streamRetention)
        self.deadMarks = RetentionMarks(retention: configuration.deadLetterRetention)
    }

    /// Runs a pass when `trimInterval` has passed since the last one (never when it is 0). A
    /// failure is logged at debug level and the next interval tries again.
    public mutating func passIfDue() async {
        guard configuration.trimInterval > .zero else { return }
        let now = ContinuousClock.now
        if let lastPass, now - lastPass < configuration.trimInterval { return }
        lastPass = now
        do {
            _ = try await pass()
        } catch {
            logger.debug("trimming the streams failed; the next interval tries again", metadata: ["fanout.error": "\(error)"])
        }
    }

    /// One pass, whatever the interval: snapshot and lease; marks; and, with the lease, the trims.
    public mutating func pass() async throws -> Report {
        var report = Report()
        let snapshot = try TrimSnapshot(replies: try await redis.pipeline(TrimSnapshot.commands(
            keySpace: keySpace, partition: partition, consumer: configuration.consumerName, lease: configuration.trimInterval)))
        let inboundRead = snapshot.inbound.map { Self.record($0, removed: removedInbound, in: &inboundMarks) }
        let deadRead = snapshot.dead.map { Self.record($0, removed: removedDead, in: &deadMarks) }
        report.heldLease = snapshot.heldLease
        guard snapshot.heldLease else { return report }

        // XPENDING only now, after the snapshot: that order is what makes the cutoff safe (TrimCutoff).
        let inboundGroups = snapshot.inbound?.groups ?? []
        let deadGroups = snapshot.dead?.groups ?? []
        var commands = inboundGroups.map { RedisCommand.xpendingSummary(stream, group: $0.name) }
        commands += deadGroups.map { RedisCommand.xpendingSummary(keySpace.deadLetters, group: $0.name) }
        commands.append(.hgetall(keySpace.trimLost(partition: partition)))
        let replies = try await redis.pipeline(commands)

        if let inbound = snapshot.inbound,
            let groups = try await pendingGroups(stream, inbound.stream, inboundGroups, pending: replies.prefix(inboundGroups.count))
        {
            report.lostBeforeDelivery = try await reportLost(stream: inbound.stream, groups: groups, baseline: replies.last ?? .null)
            let age = configuration.streamRetentionAge.map { UInt64($0.milliseconds) }
            report.inbound = TrimCutoff.decide(
                stream: inbound.stream, groups: groups, groupRequired: true, retention: configuration.streamRetention,
                countMark: inboundRead.flatMap { inboundMarks.cutoff(added: $0) },
                ageCutoff: age.map { StreamID(milliseconds: snapshot.nowMilliseconds > $0 ? snapshot.nowMilliseconds - $0 : 0) })
            report.inboundRemoved = try await trim(stream, report.inbound)
            removedInbound += report.inboundRemoved
            counters.trimmed(report.inboundRemoved, deadLetters: false)
        }
        if let dead = snapshot.dead,
            let groups = try await pendingGroups(
                keySpace.deadLetters, dead.stream, deadGroups, pending: replies.dropFirst(inboundGroups.count).prefix(deadGroups.count))
        {
            report.dead = TrimCutoff.decide(
                stream: dead.stream, groups: groups, groupRequired: false, retention: configuration.deadLetterRetention,
                countMark: deadRead.flatMap { deadMarks.cutoff(added: $0) })
            report.deadRemoved = try await trim(keySpace.deadLetters, report.dead)
            removedDead += report.deadRemoved
            counters.trimmed(report.deadRemoved, deadLetters: true)
        }
        if report.inboundRemoved + report.deadRemoved > 0 {
            logger.debug("trimmed the streams", metadata: [
                "fanout.inbound": "\(report.inboundRemoved)", "fanout.dead": "\(report.deadRemoved)",
            ])
        }
        return report
    }

    /// Records the marks a snapshot offers — each group's (entries-read, last-delivered-id), then
    /// the stream's (entries-added, last ID) — and returns the position the retention counts back
    /// from: how far the slowest group has read (the stream's end without groups). Counting from
    /// there, not from the end, keeps the last processed entries during a backlog too. Before
    /// Redis 7 only the stream's mark, with the entries this trimmer removed standing in for
    /// entries-added (an undercount: it keeps more).
    private static func record(_ state: TrimSnapshot.StreamState, removed: Int, in marks: inout RetentionMarks) -> Int {
        guard let added = state.stream.entriesAdded else {
            let position = state.stream.length + removed
            marks.record(added: position, lastID: state.stream.lastGenerated)
            marks.forget(before: position)
            return position
        }
        let progress = state.groups.compactMap { group in
            group.entriesRead.flatMap { read in StreamID(group.lastDeliveredID).map { (read, $0) } }
        }
        for (read, id) in progress.sorted(by: { $0.0 < $1.0 }) where read > 0 && read <= added {
            marks.record(added: read, lastID: id)
        }
        marks.record(added: added, lastID: state.stream.lastGenerated)
        let position = min(added, state.groups.map { $0.entriesRead ?? added }.min() ?? added)
        marks.forget(before: position)
        return position
    }

    /// The groups with their oldest pending IDs; `nil` when any XPENDING failed (a group deleted
    /// meanwhile, say): then this pass leaves the stream alone rather than guess.
    ///
    /// A pending ID below the stream's first entry belongs to an entry already removed (XAUTOCLAIM
    /// reports and drops those); it must not hold trimming back, so such a group is asked for its
    /// oldest pending ID from the first entry on.
    private func pendingGroups(
        _ key: String, _ stream: TrimCutoff.Stream, _ infos: [StreamGroupInfo], pending: ArraySlice<RedisValue>
    ) async throws -> [TrimCutoff.Group]? {
        var groups: [TrimCutoff.Group] = []
        for (info, reply) in zip(infos, pending) {
            guard let summary = try? PendingSummary(reply), let lastDelivered = StreamID(info.lastDeliveredID) else { return nil }
            var oldestPending = summary.smallestID.flatMap(StreamID.init)
            if let pendingID = oldestPending, let first = stream.firstEntry, pendingID < first {
                let rows = try PendingEntry.decodeList(try await redis.send(
                    .xpending(key, group: info.name, start: first.description, end: "+", count: 1)))
                oldestPending = rows.first.flatMap { StreamID($0.id) }
            }
            groups.append(TrimCutoff.Group(
                name: info.name, lastDelivered: lastDelivered, oldestPending: oldestPending, entriesRead: info.entriesRead))
        }
        return groups.count == infos.count ? groups : nil
    }

    /// Removes what `decision` says, a bounded call at a time; returns how many entries went.
    private func trim(_ key: String, _ decision: TrimCutoff.Decision) async throws -> Int {
        let command: RedisCommand
        switch decision {
        case .keepAll: return 0
        case .minID(let id): command = .xtrim(key, minID: id.description)
        case .maxLength(let count): command = .xtrim(key, maxLength: count)
        }
        var total = 0
        for _ in 0..<Self.maxRounds {
            let removed = Int(try await redis.send(command).int ?? 0)
            total += removed
            if removed == 0 { break }
        }
        return total
    }

    /// Compares each group's count of entries lost before delivery with the count already
    /// reported (`<prefix>:trim-lost`, shared by all workers so each loss is reported once) and
    /// reports the increase: an error log and `fanout_stream_trimmed_unprocessed_total`.
    private func reportLost(stream: TrimCutoff.Stream, groups: [TrimCutoff.Group], baseline: RedisValue) async throws -> [String: Int] {
        var reported: [String: Int] = [:]
        let flat = baseline.array ?? []
        var index = 0
        while index + 1 < flat.count {
            if let name = flat[index].string, let count = flat[index + 1].int { reported[name] = Int(count) }
            index += 2
        }
        var found: [String: Int] = [:]
        for group in groups {
            guard let lost = TrimCutoff.lostBeforeDelivery(stream: stream, group: group) else { continue }
            let already = reported[group.name] ?? 0
            guard lost != already else { continue }
            _ = try await redis.send(.hset(keySpace.trimLost(partition: partition), [(group.name, String(lost))]))
            guard lost > already else { continue }  // the stream or group was made again: counting restarts
            found[group.name] = lost - already
            counters.trimmedUnprocessed(lost - already)
            logger.error(
                "inbound entries were removed before their consumer group received them: they were never processed (the MAXLEN cap, or XTRIM/XDEL by hand)",
                metadata: ["fanout.group": "\(group.name)", "fanout.count": "\(lost - already)", "fanout.total": "\(lost)"])
        }
        return found
    }

    /// Reports pending entries that XAUTOCLAIM found gone from the stream (it drops them from the
    /// pending list as it says so, so each is reported once): delivered, never acknowledged, and
    /// removed — by the `MAXLEN` cap or by hand, never by this trimmer.
    static func reportRemovedWhilePending(_ ids: [String], counters: WorkerCounters, logger: Logger) {
        guard !ids.isEmpty else { return }
        counters.trimmedUnprocessed(ids.count)
        logger.error(
            "pending inbound entries were removed from the stream before they were acknowledged: they will not be processed (the MAXLEN cap, or XTRIM/XDEL by hand)",
            metadata: ["fanout.count": "\(ids.count)", "fanout.msg": "\(ids.first ?? "")"])
    }
}
