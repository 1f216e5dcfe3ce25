public import FanoutRedis
import Foundation

/// What `fanout stats` shows: the operator's view of the queue, read from Redis.
///
/// The same numbers are available from redis-cli: `XLEN <prefix>:inbound`,
/// `XINFO GROUPS <prefix>:inbound`, `XPENDING <prefix>:inbound workers`, `XINFO CONSUMERS …`, `INFO memory`,
/// `ZRANGE <prefix>:edges 0 -1 WITHSCORES` — per inbound stream when there are several
/// (`FANOUT_STREAM_PARTITIONS`); the top-level numbers are then the totals. On a Redis Cluster
/// `INFO memory` is that of the one node that answered keyless commands.
public struct StatsSnapshot: Sendable, Codable {
    /// One inbound stream's numbers.
    public struct Partition: Sendable, Codable {
        public var stream: String
        public var length: Int
        /// `nil` when Redis cannot tell (after some XDELs).
        public var lag: Int?
        public var pending: Int
    }

    /// One consumer of group `workers`.
    public struct Consumer: Sendable, Codable {
        public var name: String
        public var pending: Int
        public var idleMs: Int64
    }

    /// One worker's metrics address, as it recorded it in `<prefix>:worker-metrics` once its HTTP
    /// server listened. A worker appears here as soon as it runs, in `consumers` only once it has
    /// read an entry; one killed with SIGKILL stays listed in both.
    public struct WorkerMetrics: Sendable, Codable {
        /// Its consumer name.
        public var name: String
        /// Where its `/metrics` answers, `host:port`.
        public var address: String
    }

    /// One edge and when it last beat.
    public struct EdgeState: Sendable, Codable {
        public var id: String
        public var lastHeartbeatMsAgo: Int64
    }

    /// Every inbound stream (one unless partitioned), in partition order.
    public var partitions: [Partition]
    /// Entries kept in the inbound streams (totals over the partitions): the backlog plus the
    /// processed ones kept for inspection (`FANOUT_STREAM_RETENTION`). Not the backlog.
    public var streamLength: Int
    /// Lag + pending: entries not yet processed (`nil` when the lag is unknown).
    public var backlog: Int?
    /// Entries not yet delivered to any worker (`nil` when Redis cannot tell).
    public var lag: Int?
    /// Entries delivered to a worker and not yet acknowledged.
    public var pending: Int
    /// Redis's `used_memory` in bytes: everything Redis holds, the streams included.
    public var usedMemory: Int?
    public var deadLetters: Int
    /// Consumers with their pending entries summed over the partitions (and their smallest idle time).
    public var consumers: [Consumer]
    /// Every worker with an HTTP server, by name.
    public var workerMetrics: [WorkerMetrics]
    public var edges: [EdgeState]

    /// Reads everything with one pipeline per question.
    public static func collect(redis: RedisClient, keySpace: KeySpace) async throws -> StatsSnapshot {
        var partitions: [Partition] = []
        var byConsumer: [String: Consumer] = [:]
        for stream in keySpace.inboundStreams {
            let length = try await redis.xlen(stream)
            let group = try await redis.xinfoGroups(stream).first { $0.name == KeySpace.workerGroup }
            partitions.append(Partition(stream: stream, length: length, lag: group?.lag ?? (group == nil ? length : nil), pending: group?.pending ?? 0))
            guard group != nil else { continue }
            for info in try await redis.xinfoConsumers(stream, group: KeySpace.workerGroup) {
                var consumer = byConsumer[info.name] ?? Consumer(name: info.name, pending: 0, idleMs: info.idleMilliseconds)
                consumer.pending += info.pending
                consumer.idleMs = min(consumer.idleMs, info.idleMilliseconds)
                byConsumer[info.name] = consumer
            }
        }
        let consumers = byConsumer.values.sorted { $0.name < $1.name }
        let lags = partitions.map(\.lag)
        let metricsRows = try await redis.send(.hgetall(keySpace.workerMetrics)).array ?? []
        var workerMetrics: [WorkerMetrics] = []
        var field = 0
        while field + 1 < metricsRows.count {
            if let name = metricsRows[field].string, let address = metricsRows[field + 1].string {
                workerMetrics.append(WorkerMetrics(name: name, address: address))
            }
            field += 2
        }
        workerMetrics.sort { $0.name < $1.name }
        let dead = try await redis.xlen(keySpace.deadLetters)
        let memory = try? await redis.memoryInfo()  // INFO may be forbidden by an ACL: then unknown
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let edgeRows = try await redis.send(RedisCommand("ZRANGE", [keySpace.edges, "0", "-1", "WITHSCORES"])).array ?? []
        var edges: [EdgeState] = []
        var index = 0
        while index + 1 < edgeRows.count {
            if let id = edgeRows[index].string, let score = Double(edgeRows[index + 1].string ?? "") {
                edges.append(EdgeState(id: id, lastHeartbeatMsAgo: now - Int64(score)))
            }
            index += 2
        }
        let lag: Int? = lags.contains(nil) ? nil : lags.compactMap { $0 }.reduce(0, +)
        let pending = partitions.map(\.pending).reduce(0, +)
        return StatsSnapshot(
            partitions: partitions, streamLength: partitions.map(\.length).reduce(0, +),
            backlog: lag.map { $0 + pending }, lag: lag, pending: pending, usedMemory: memory?.usedMemory,
            deadLetters: dead, consumers: consumers, workerMetrics: workerMetrics, edges: edges)
    }

    /// `used_memory` for people: `12.3 MiB (12898765 bytes)`.
    static func mebibytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB (\(bytes) bytes)"
    }

    /// One JSON object (for scripts and tests).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// A table for people.
    public func table() -> String {
        var lines = [
            "stream length  \(streamLength)",
            "backlog        \(backlog.map(String.init) ?? "unknown")",
            "  lag          \(lag.map(String.init) ?? "unknown")",
            "  pending      \(pending)",
            "dead letters   \(deadLetters)",
            "redis memory   \(usedMemory.map(Self.mebibytes) ?? "unknown")",
        ]
        if partitions.count > 1 {
            lines.append("partitions     \(partitions.count)")
            for partition in partitions {
                lines.append("  \(partition.stream)  length \(partition.length)  lag \(partition.lag.map(String.init) ?? "unknown")  pending \(partition.pending)")
            }
        }
        lines += [
            "consumers      \(consumers.count)",
        ]
        for consumer in consumers {
            lines.append("  \(consumer.name)  pending \(consumer.pending)  idle \(consumer.idleMs) ms")
        }
        lines.append("worker metrics \(workerMetrics.count)")
        for worker in workerMetrics {
            lines.append("  \(worker.name)  \(worker.address)")
        }
        lines.append("edges          \(edges.count)")
        for edge in edges {
            lines.append("  \(edge.id)  last heartbeat \(edge.lastHeartbeatMsAgo) ms ago")
        }
        return lines.joined(separator: "\n")
    }
}
