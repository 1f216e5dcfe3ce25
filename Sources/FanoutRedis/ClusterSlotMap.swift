import Logging
import NIOCore

/// Which master serves each of the 16384 hash slots, as a cluster node answered `CLUSTER SLOTS`
/// (https://redis.io/commands/cluster-slots; `CLUSTER SHARDS` says the same in a newer shape, and
/// Redis 6.2 has only this one).
///
/// A value: a client keeps the map it routes by and replaces it whole when a `MOVED`, a closed
/// connection or a failover says it is stale (`RedisClusterClient`). Slots nobody serves (a
/// shard whose master failed and has no replica, or a cluster being set up) have no master: a
/// command for them is answered `notConnected` at once.
public struct ClusterSlotMap: Sendable, Equatable {
    /// The masters, in the order the reply named them first.
    public let masters: [RedisAddress]
    /// For each slot, its master's index in `masters`, or -1.
    private let owners: [Int16]

    public init(masters: [RedisAddress], owners: [Int16]) {
        precondition(owners.count == HashSlot.count)
        self.masters = masters
        self.owners = owners
    }

    /// The index in `masters` of the master serving `slot`, or `nil` when none does.
    public func master(for slot: HashSlot) -> Int? {
        let owner = owners[slot.value]
        return owner < 0 ? nil : Int(owner)
    }

    /// The address of the master serving `slot`.
    public func address(for slot: HashSlot) -> RedisAddress? {
        master(for: slot).map { masters[$0] }
    }

    /// `true` when every slot has a master.
    public var coversAllSlots: Bool { !owners.contains(-1) }

    /// How many slots each master serves, in `masters` order.
    public var slotCounts: [Int] {
        var counts = [Int](repeating: 0, count: masters.count)
        for owner in owners where owner >= 0 { counts[Int(owner)] += 1 }
        return counts
    }

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], replica…], …]`. An empty
    /// host means "the address you asked" (`queried`); `?` (unknown endpoint) skips the range.
    public init(slotsReply reply: RedisValue, queried: RedisAddress) throws(RedisError) {
        guard let ranges = reply.array else {
            throw RedisError(.unexpectedReply, "expected an array of slot ranges, got \(reply)", command: "CLUSTER SLOTS")
        }
        var masters: [RedisAddress] = []
        var owners = [Int16](repeating: -1, count: HashSlot.count)
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                let node = parts[2].array, node.count >= 2, var host = node[0].string, let port = node[1].int,
                0 <= start, start <= end, end < HashSlot.count
            else {
                throw RedisError(.unexpectedReply, "a slot range has an unexpected shape: \(range)", command: "CLUSTER SLOTS")
            }
            if host == "?" { continue }
            if host.isEmpty { host = queried.host }
            let address = RedisAddress(host: host, port: Int(port))
            let index: Int
            if let known = masters.firstIndex(of: address) {
                index = known
            } else {
                index = masters.count
                masters.append(address)
            }
            for slot in Int(start)...Int(end) { owners[slot] = Int16(index) }
        }
        self.init(masters: masters, owners: owners)
    }

    /// Asks `candidates` in order (each on a short connection of its own) and returns the first
    /// map one of them gives.
    ///
    /// - Throws: the last candidate's failure when none answers; `.server` when a node answers that
    ///   it is not a cluster node (a `redis-cluster://` URL aimed at a plain Redis).
    static func fetch(
        from candidates: [RedisAddress], configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger
    ) async throws(RedisError) -> ClusterSlotMap {
        var lastError = RedisError(.notConnected, "no cluster node to ask for the slot map")
        var asked = Set<RedisAddress>()
        for address in candidates where asked.insert(address).inserted {
            let connection: RedisConnection
            do {
                connection = try await RedisConnection.connect(configuration: configuration.direct(to: address), eventLoop: eventLoop, logger: logger)
            } catch {
                if error.code == .authenticationFailed { throw error }
                lastError = error
                continue
            }
            defer { connection.close() }
            let reply: RedisValue
            do {
                reply = try await connection.sendFuture(RedisCommand("CLUSTER", ["SLOTS"])).get()
            } catch {
                lastError = (error as? RedisError) ?? RedisError(.connectionClosed, "\(error)", command: "CLUSTER SLOTS")
                continue
            }
            if case .error(let message) = reply {
                lastError = RedisError(.server, "\(address) cannot tell its slot map: \(message)", command: "CLUSTER SLOTS")
                continue
            }
            let map = try ClusterSlotMap(slotsReply: reply, queried: address)
            if map.masters.isEmpty {
                lastError = RedisError(.notConnected, "\(address) knows no master yet (a cluster being set up?)", command: "CLUSTER SLOTS")
                continue
            }
            return map
        }
        throw lastError
    }
}
