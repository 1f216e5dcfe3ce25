/// What a client asks for when it joins again: the last room message it saw.
public struct RecoveryRequest: Sendable, Hashable {
    /// The offset of the last message the client saw in the room.
    public var offset: Int64
    /// The epoch that offset belongs to (from `joined`); `nil` if the client does not know it,
    /// which recovers when the offsets fit but cannot notice that Redis lost the history.
    public var epoch: Int64?

    public init(offset: Int64, epoch: Int64?) {
        self.offset = offset
        self.epoch = epoch
    }
}

/// The outcome of a join, decided by the worker from the room's history at that moment: where the
/// member's messages start, and what to tell the client.
public struct RoomJoin: Sendable, Hashable {
    /// Why a requested recovery is not possible; the raw value is what the chat protocol sends.
    public enum Reason: String, Sendable, Hashable {
        /// History is off (`FANOUT_HISTORY_SIZE=0`).
        case disabled
        /// The epoch differs: Redis lost the room's history (or its record expired) since then.
        case epochChanged = "epoch_changed"
        /// Messages after `since` were trimmed: more than `FANOUT_HISTORY_SIZE` were sent since.
        case trimmed
        /// The history expired (`FANOUT_HISTORY_TTL_MS` without a message) with messages after `since` in it.
        case expired
        /// `since` is beyond the room's last offset: not an offset of this history.
        case unknownOffset = "unknown_offset"
    }

    /// The member receives every room message after this position; `nil` without history.
    public var start: StreamPosition?
    /// The room's epoch and offset at the join (`joined`'s `offset`); `nil` without history.
    public var roomPosition: StreamPosition?
    /// `true`: every message after `since` follows; `false`: they cannot (see `reason`); `nil`:
    /// the join did not ask.
    public var recovered: Bool?
    public var reason: Reason?

    public init(start: StreamPosition?, roomPosition: StreamPosition?, recovered: Bool?, reason: Reason?) {
        self.start = start
        self.roomPosition = roomPosition
        self.recovered = recovered
        self.reason = reason
    }

    /// Decides a join against the room's history `state`: recovered when the history still holds
    /// every message after `since` in the same epoch (or there is none), else start at the room's
    /// offset now and say why.
    public static func decide(since: RecoveryRequest?, state: HistoryState) -> RoomJoin {
        let now = state.position
        guard let since else { return RoomJoin(start: now, roomPosition: now, recovered: nil, reason: nil) }
        func fail(_ reason: Reason) -> RoomJoin { RoomJoin(start: now, roomPosition: now, recovered: false, reason: reason) }
        if let epoch = since.epoch, epoch != now.epoch { return fail(.epochChanged) }
        if since.offset < 0 || since.offset > now.offset { return fail(.unknownOffset) }
        if since.offset < now.offset {
            guard let oldest = state.oldest else { return fail(.expired) }
            if oldest > since.offset + 1 { return fail(.trimmed) }
        }
        return RoomJoin(start: StreamPosition(epoch: now.epoch, offset: since.offset), roomPosition: now, recovered: true, reason: nil)
    }
}
