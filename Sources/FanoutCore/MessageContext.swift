public import NIOCore
public import Logging
public import FanoutRedis
import Synchronization

/// What a handler can do. Actions are recorded and performed by the runtime after `handle` returns
/// (see `MessageHandler` for the contract); queries (`members`, `count`) go to Redis at once.
public struct MessageContext: Sendable {
    /// The names of every key and channel.
    public let keySpace: KeySpace
    /// A logger carrying the message's metadata (`fanout.msg`, `fanout.conn`); never log payloads.
    /// Built when asked for: most messages are never logged, and the metadata costs allocations
    /// on every message otherwise.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "fanout.msg"] = .string(message.id)
        logger[metadataKey: "fanout.conn"] = .string(message.connection.rawValue)
        return logger
    }
    let baseLogger: Logger
    let message: InboundMessage
    let recorder: EffectRecorder
    let redis: RedisClient
    /// How much history rooms and users keep (`FANOUT_HISTORY_SIZE` …); size 0: none, no offsets.
    public let history: HistorySettings

    public init(message: InboundMessage, keySpace: KeySpace, redis: RedisClient, logger: Logger, history: HistorySettings = .off) {
        self.message = message
        self.keySpace = keySpace
        self.redis = redis
        self.baseLogger = logger
        self.history = history
        self.recorder = EffectRecorder()
    }

    /// `true` when room and user messages get offsets and are kept in history.
    public var keepsHistory: Bool { history.isEnabled }

    /// The effects recorded so far, in order (read by the runtime after the handler returns).
    public var effects: [Effect] { recorder.effects }

    /// Replies to the sender with a text frame.
    public func reply(text: String) { send(to: message.connection, .text, ByteBuffer(string: text)) }

    /// Replies to the sender with a binary frame.
    public func reply(binary: ByteBuffer) { send(to: message.connection, .binary, binary) }

    /// Replies to the sender with a frame of the given type.
    public func reply(_ type: FrameType, _ payload: ByteBuffer) { send(to: message.connection, type, payload) }

    /// Sends a frame to any connection, on any edge.
    public func send(to connection: ConnectionID, _ type: FrameType, _ payload: ByteBuffer) {
        recorder.append(.publish(
            channel: keySpace.connection(connection),
            envelope: .frame(type, payload, origin: message.receivedAt), audience: .connection))
    }

    /// Sends a frame to every connection of `user`, on every edge. With history on, the message
    /// gets the user channel's next offset and is kept, like a room's.
    public func send(toUser user: UserID, _ type: FrameType, _ payload: ByteBuffer) {
        send(toUser: user, type, OffsetStampedPayload(payload))
    }

    /// `send(toUser:)` with the offset written into the payload (see `OffsetStampedPayload`).
    public func send(toUser user: UserID, _ type: FrameType, _ payload: OffsetStampedPayload) {
        recorder.append(.channelMessage(ChannelMessage(
            channel: keySpace.user(user), history: keySpace.userHistoryKeys(user),
            audience: .user, type: type, payload: payload, origin: message.receivedAt, except: [])))
    }

    /// Closes a connection with a WebSocket close code (1000–1003, 1007–1014, 3000–4999) and a reason.
    public func close(_ connection: ConnectionID, code: UInt16 = CloseCode.normal, reason: String = "") {
        let code = CloseCode.isValidToSend(code) ? code : CloseCode.normal
        recorder.append(.publish(
            channel: keySpace.connection(connection), envelope: .close(code: code, reason: CloseCode.truncated(reason)),
            audience: .connection))
    }

    /// Adds `connection` to `room`: its edge subscribes to the room before anything published after this effect reaches the client.
    public func join(_ connection: ConnectionID, room: RoomName) {
        recorder.append(.join(connection, room, since: nil))
    }

    /// Adds `connection` to `room` at a known position, recovering what it missed when it names
    /// the last message it saw (`since`). With history on, reads the room's position now (one
    /// round trip) and decides (`RoomJoin.decide`): the member then receives every room message
    /// after `RoomJoin.start` — from history first, in order, then live, each once. Returns what
    /// the client should be told; record the reply after this call.
    public func join(_ connection: ConnectionID, room: RoomName, since: RecoveryRequest?) async throws -> RoomJoin {
        guard history.isEnabled else {
            recorder.append(.join(connection, room, since: nil))
            return RoomJoin(start: nil, roomPosition: nil, recovered: since == nil ? nil : false, reason: since == nil ? nil : .disabled)
        }
        let keys = keySpace.roomHistoryKeys(room)
        let state = try HistoryState(reply: try await redis.send(HistoryScript.position(keys, settings: history)))
        let decision = RoomJoin.decide(since: since, state: state)
        recorder.append(.join(connection, room, since: decision.start))
        return decision
    }

    /// Removes `connection` from `room`.
    public func leave(_ connection: ConnectionID, room: RoomName) {
        recorder.append(.leave(connection, room))
    }

    /// Sends a frame to every member of `room` on every edge with one PUBLISH, skipping `except`.
    /// With history on, the message gets the room's next offset and is kept, in the same step.
    public func broadcast(_ room: RoomName, _ type: FrameType, _ payload: ByteBuffer, except: [ConnectionID] = []) {
        broadcast(room, type, OffsetStampedPayload(payload), except: except)
    }

    /// `broadcast` with the message's offset written into the payload by Redis (see
    /// `OffsetStampedPayload`): how the chat handler's `"offset":N` gets there.
    public func broadcast(_ room: RoomName, _ type: FrameType, _ payload: OffsetStampedPayload, except: [ConnectionID] = []) {
        recorder.append(.channelMessage(ChannelMessage(
            channel: keySpace.room(room), history: keySpace.roomHistoryKeys(room),
            audience: .room, type: type, payload: payload, origin: message.receivedAt, except: except)))
    }

    /// The connections in `room` right now (presence, from Redis).
    public func members(_ room: RoomName) async throws -> [ConnectionID] {
        let reply = try await redis.send(.smembers(keySpace.roomMembers(room)))
        return (reply.array ?? []).compactMap { $0.string.flatMap(ConnectionID.init) }
    }

    /// How many connections are in `room` right now.
    public func count(_ room: RoomName) async throws -> Int {
        Int(try await redis.send(.scard(keySpace.roomMembers(room))).int ?? 0)
    }

    /// Whether `connection` is in `room` right now.
    public func isMember(_ connection: ConnectionID, of room: RoomName) async throws -> Bool {
        try await redis.send(.sismember(keySpace.roomMembers(room), connection.rawValue)).int == 1
    }
}

/// One action a handler requested.
public enum Effect: Sendable, Hashable {
    /// Who a publish is meant for, so an unheard publish can be counted correctly.
    public enum Audience: Sendable, Hashable {
        /// One connection: nobody listening means the connection is gone (undeliverable).
        case connection
        /// A room or user: nobody listening just means no member is connected.
        case room, user
    }
    case publish(channel: String, envelope: OutboundEnvelope, audience: Audience)
    /// A message to a room or user channel: with history on it gets the channel's next offset.
    case channelMessage(ChannelMessage)
    /// `since`: where the member's messages start (it receives every one after it); `nil`
    /// without history, or for a join that did not ask for a position.
    case join(ConnectionID, RoomName, since: StreamPosition? = nil)
    case leave(ConnectionID, RoomName)
}

/// Collects effects from a handler that may record them from several tasks.
final class EffectRecorder: Sendable {
    private let storage = Mutex<[Effect]>([])
    func append(_ effect: Effect) { storage.withLock { $0.append(effect) } }
    var effects: [Effect] { storage.withLock { $0 } }
}
