import FanoutCore
import FanoutRedis
import NIOCore
import Synchronization

/// Reference-counted subscriptions to channels many local connections share (rooms, users).
///
/// The edge subscribes when the first local member arrives and unsubscribes when the last one
/// leaves. `add` returns only once Redis confirmed the subscription — so a client that was told
/// "joined" is already covered by every later broadcast. Subscribe and unsubscribe requests are
/// issued under the same lock that changes the member sets, so Redis sees them in the same order
/// as the sets change (a leave racing a join can never leave the channel unsubscribed).
final class SharedSubscriptions: Sendable {
    private struct Channel {
        var members: [ConnectionID: EdgeConnection] = [:]
        /// Completes when the SUBSCRIBE for the current membership period is confirmed.
        var subscribed: EventLoopFuture<Void>
    }

    private let subscriber: RedisSubscriber
    private let channels = Mutex<[String: Channel]>([:])

    init(subscriber: RedisSubscriber) {
        self.subscriber = subscriber
    }

    /// Adds `connection` to `channel`, subscribing if it is the first local member.
    func add(_ connection: EdgeConnection, to channel: String) async throws {
        let subscribed = channels.withLock { channels -> EventLoopFuture<Void> in
            if var existing = channels[channel] {
                existing.members[connection.id] = connection
                channels[channel] = existing
                return existing.subscribed
            }
            let future = subscriber.requestSubscribe([channel])
            channels[channel] = Channel(members: [connection.id: connection], subscribed: future)
            return future
        }
        do {
            try await subscribed.get()
        } catch {
            // Undo, so that a later join tries again instead of waiting on a failed future.
            await remove(connection.id, from: channel)
            throw error
        }
    }

    /// Removes `connection` from `channel`, unsubscribing if it was the last local member.
    func remove(_ connection: ConnectionID, from channel: String) async {
        let unsubscribed = channels.withLock { channels -> EventLoopFuture<Void>? in
            guard var existing = channels[channel], existing.members.removeValue(forKey: connection) != nil else { return nil }
            if existing.members.isEmpty {
                channels[channel] = nil
                return subscriber.requestUnsubscribe([channel])
            }
            channels[channel] = existing
            return nil
        }
        try? await unsubscribed?.get()
    }

    /// The local members of `channel` (for delivering a broadcast).
    func members(of channel: String) -> [EdgeConnection] {
        channels.withLock { channels in channels[channel].map { Array($0.members.values) } ?? [] }
    }

    /// How many shared channels this edge is subscribed to.
    var count: Int { channels.withLock { $0.count } }
}
