import FanoutCore
import FanoutRedis

/// Reads room and user history for one event loop, on that loop's Redis command connection (in a
/// cluster, that client's connection to the history's master; a `MOVED` answer after a reshard
/// fails the read like an outage, and the client's map is refreshed for the next).
///
/// Reads are rare — a gap, a subscriber reconnect, a join that must catch up — so each carries a
/// closure, called on the loop with the page or the failure. Confined to its event loop.
final class HistoryReader: RedisReplyReceiver {
    typealias Completion = (Result<HistoryPage, RedisError>) -> Void

    private let redis: RedisClient
    private var pending: [Int: Completion] = [:]
    private var nextTag = 0

    init(redis: RedisClient) {
        self.redis = redis
    }

    /// Reads up to `count` messages after offset `after`; `completion` runs on the loop.
    func read(_ keys: HistoryKeys, after: Int64, count: Int, completion: @escaping Completion) {
        // In a cluster, the master of the history's slot (its offsets share it by a hash tag).
        guard let connection = redis.connectionOnLoop(for: HashSlot(key: keys.stream)) else {
            return completion(.failure(RedisError(.notConnected, "Redis unavailable", command: "EVAL")))
        }
        nextTag += 1
        pending[nextTag] = completion
        connection.enqueue(HistoryScript.read(keys, after: after, count: count), receiver: self, tag: nextTag)
    }

    func redisReply(_ reply: RedisValue, tag: Int) {
        guard let completion = pending.removeValue(forKey: tag) else { return }
        if case .error(let message) = reply { return completion(.failure(RedisError(.server, message, command: "EVAL"))) }
        do {
            completion(.success(try HistoryPage(reply: reply)))
        } catch {
            completion(.failure(RedisError(.server, error.reason, command: "EVAL")))
        }
    }

    func redisFailure(_ error: RedisError, tag: Int) {
        pending.removeValue(forKey: tag)?(.failure(error))
    }
}
