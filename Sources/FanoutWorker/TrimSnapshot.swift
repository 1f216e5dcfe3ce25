import FanoutCore
import FanoutRedis

/// One consistent view of both streams and Redis's clock, read in one MULTI/EXEC together with
/// the attempt to take the trim lease.
///
/// MULTI/EXEC, not a plain pipeline: the retention mark (`entries-added` with the last ID) and
/// the lost-entry check (`entries-added`, length, the group's `entries-read` and position) each
/// combine figures from `XINFO STREAM` and `XINFO GROUPS`, which must describe the same moment.
struct TrimSnapshot {
    /// A stream as seen in the snapshot, with its groups (without their pending IDs yet).
    struct StreamState {
        var stream: TrimCutoff.Stream
        var groups: [StreamGroupInfo]
    }

    /// `true` when this worker took the lease for this interval.
    var heldLease: Bool
    /// `nil` when the stream does not exist.
    var inbound: StreamState?
    var dead: StreamState?
    /// Redis's clock, in milliseconds since 1970 — the clock stream IDs are made from.
    var nowMilliseconds: UInt64

    /// MULTI, the lease attempt, XINFO STREAM/GROUPS of inbound partition `partition` and (for
    /// partition 0 only) of the dead-letter stream, TIME, EXEC. In a cluster every key named here
    /// shares the partition's slot (`KeySpace`), so the transaction goes to one master.
    static func commands(keySpace: KeySpace, partition: Int = 0, consumer: String, lease: Duration) -> [RedisCommand] {
        let leaseMilliseconds = max(1, lease.milliseconds)
        let stream = keySpace.inboundStreams[partition]
        return [
            RedisCommand("MULTI"),
            RedisCommand("SET", [keySpace.trimLease(partition: partition), consumer, "NX", "PX", String(leaseMilliseconds)]),
            .xinfoStream(stream), .xinfoGroups(stream),
        ] + (partition == 0 ? [.xinfoStream(keySpace.deadLetters), .xinfoGroups(keySpace.deadLetters)] : []) + [
            RedisCommand("TIME"),
            RedisCommand("EXEC"),
        ]
    }

    /// Decodes the replies of `commands` (the last one, EXEC's, holds them all).
    init(replies: [RedisValue]) throws(RedisError) {
        guard let results = replies.last?.array, results.count == 6 || results.count == 4 else {
            throw RedisError(.unexpectedReply, "trim snapshot: EXEC did not run (\(replies.last.map { "\($0)" } ?? "no reply"))", command: "EXEC")
        }
        heldLease = results[0].string == "OK"
        inbound = try Self.state(info: results[1], groups: results[2])
        dead = results.count == 6 ? try Self.state(info: results[3], groups: results[4]) : nil
        let time = results[results.count - 1].array ?? []
        guard time.count == 2, let seconds = time[0].int, let micros = time[1].int else {
            throw RedisError(.unexpectedReply, "TIME: expected [seconds, microseconds]", command: "TIME")
        }
        nowMilliseconds = UInt64(seconds) * 1000 + UInt64(micros) / 1000
    }

    private static func state(info: RedisValue, groups: RedisValue) throws(RedisError) -> StreamState? {
        if case .error = info { return nil }  // ERR no such key: nothing to trim
        let stream = try StreamInfo(info)
        let groupInfos: [StreamGroupInfo]
        if case .error = groups { groupInfos = [] } else { groupInfos = try StreamGroupInfo.decodeList(groups) }
        return StreamState(
            stream: TrimCutoff.Stream(
                length: stream.length, firstEntry: stream.firstEntryID.flatMap(StreamID.init),
                lastGenerated: StreamID(stream.lastGeneratedID) ?? .zero, entriesAdded: stream.entriesAdded),
            groups: groupInfos)
    }
}
