import FanoutCore
import FanoutRedis
import Logging
import NIOCore
import Synchronization

/// Routes messages from the subscriber to connections: connection channels to one connection,
/// room and user channels to every local member.
///
/// Called on the subscriber's event loop for every message, so it only looks up, decodes once,
/// and pushes into bounded outboxes — it never waits.
final class ConnectionRegistry: Sendable {
    private let keySpace: KeySpace
    private let connections = Mutex<[String: EdgeConnection]>([:])
    private let membershipChanged = AsyncSignal()
    let shared: SharedSubscriptions
    private let logger: Logger
    let counters: EdgeCounters

    init(keySpace: KeySpace, subscriber: RedisSubscriber, counters: EdgeCounters, logger: Logger) {
        self.keySpace = keySpace
        self.shared = SharedSubscriptions(subscriber: subscriber)
        self.counters = counters
        self.logger = logger
    }

    func register(_ connection: EdgeConnection) {
        let count = connections.withLock { connections -> Int in
            connections[keySpace.connection(connection.id)] = connection
            return connections.count
        }
        counters.connectionsChanged(to: count)
    }

    func unregister(_ connection: EdgeConnection) {
        let count = connections.withLock { connections -> Int in
            connections.removeValue(forKey: keySpace.connection(connection.id))
            return connections.count
        }
        counters.connectionsChanged(to: count)
        membershipChanged.signal()
    }

    /// Returns once no connection is registered (or the task is cancelled): graceful shutdown waits for this.
    func waitUntilEmpty() async {
        await membershipChanged.wait { self.connections.withLock { $0.isEmpty } }
    }

    /// Open connections on this edge.
    var count: Int { connections.withLock { $0.count } }

    /// Every open connection (for graceful shutdown).
    var all: [EdgeConnection] { connections.withLock { Array($0.values) } }

    /// Delivers one pub/sub message.
    func deliver(channel: String, payload: ByteBuffer) {
        let envelope: OutboundEnvelope
        do {
            envelope = try OutboundEnvelope(decoding: payload)
        } catch {
            counters.badEnvelope()
            logger.warning("dropped a message that is not a Fanout envelope", metadata: [
                "fanout.channel": "\(channel)", "fanout.reason": "\(error.reason)",
            ])
            return
        }
        if let connection = connections.withLock({ $0[channel] }) {
            push(envelope, to: connection)
            return
        }
        let members = shared.members(of: channel)
        guard !members.isEmpty else { return }  // the last member left while this was in flight
        guard case .frame(let type, let buffer, let origin, let except) = envelope else {
            logger.warning("dropped a control message sent to a shared channel", metadata: ["fanout.channel": "\(channel)"])
            return
        }
        let excluded = Set(except)
        for member in members where !excluded.contains(member.id) {
            // Every member gets the same buffer: the broadcast is encoded once, never copied per member.
            enqueue(.frame(type, buffer, origin: origin), to: member)
        }
    }

    private func push(_ envelope: OutboundEnvelope, to connection: EdgeConnection) {
        switch envelope {
        case .frame(let type, let buffer, let origin, _): enqueue(.frame(type, buffer, origin: origin), to: connection)
        case .close(let code, let reason): enqueue(.close(code: code, reason: reason), to: connection)
        case .join(let room): enqueue(.join(room), to: connection)
        case .leave(let room): enqueue(.leave(room), to: connection)
        }
    }

    private func enqueue(_ item: OutboxItem, to connection: EdgeConnection) {
        if connection.outbox.push(item) == .overflowed {
            counters.slowConsumerClosed()
            logger.info("closing a slow consumer: its outbound buffer is full", metadata: ["fanout.conn": "\(connection.id)"])
        }
    }

    // MARK: rooms and users

    func join(_ connection: EdgeConnection, room: RoomName) async throws {
        try await shared.add(connection, to: keySpace.room(room))
        _ = connection.rooms.withLock { $0.insert(room) }
    }

    func leave(_ connection: EdgeConnection, room: RoomName) async {
        _ = connection.rooms.withLock { $0.remove(room) }
        await shared.remove(connection.id, from: keySpace.room(room))
    }
}

