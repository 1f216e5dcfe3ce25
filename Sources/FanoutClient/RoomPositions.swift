import Foundation

/// The rooms a `FanoutClient` has joined with the chat protocol and the last message offset it saw
/// in each (with the room's epoch): what a rejoin after a reconnect names as `since`, and what
/// drops a message seen before the reconnect. A value, confined to the client's lock.
public struct RoomPositions: Sendable {
    /// What the client knows of one room.
    public struct Position: Sendable, Hashable {
        public var epoch: String?
        public var offset: Int64?
        /// A join naming `offset` was sent and not yet answered.
        var resuming = false
    }

    /// What to do with a text frame from the edge.
    public enum Outcome: Sendable, Equatable {
        /// Hand it to the app.
        case deliver
        /// A room message at or below the remembered offset: already seen, drop it.
        case drop
        /// Hand it to the app (a `joined`), and tell it that a rejoin could not recover.
        case deliverAndRecoveryFailed(room: String, reason: String)
    }

    public private(set) var rooms: [String: Position] = [:]

    public init() {}

    /// Remembers `room` and returns the join frame to send: with `since`/`epoch` once a position is known.
    public mutating func join(_ room: String) -> String {
        var known = rooms[room] ?? Position()
        known.resuming = known.offset != nil
        rooms[room] = known
        var object: [String: Any] = ["type": "join", "room": room]
        if let offset = known.offset {
            object["since"] = offset
            if let epoch = known.epoch { object["epoch"] = epoch }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Forgets `room`.
    public mutating func leave(_ room: String) {
        rooms[room] = nil
    }

    /// Tracks a text frame: offsets of room messages, the position a `joined` reports.
    public mutating func track(_ text: String) -> Outcome {
        let isMessage = text.hasPrefix(#"{"type":"message""#)
        guard isMessage || text.hasPrefix(#"{"type":"joined""#),
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let room = object["room"] as? String, var known = rooms[room]
        else { return .deliver }
        defer { rooms[room] = known }
        if isMessage {
            guard let offset = (object["offset"] as? Int).map(Int64.init) else { return .deliver }
            if let last = known.offset, offset <= last { return .drop }
            known.offset = offset
            return .deliver
        }
        let resumed = known.resuming
        known.resuming = false
        let recovered = object["recovered"] as? Bool == true
        if let offset = (object["offset"] as? Int).map(Int64.init) {
            let epoch = object["epoch"] as? String
            // Not recovered: start from the room's offset now. Recovered: the missed ones follow.
            if !recovered || known.epoch != epoch { known.offset = offset }
            known.epoch = epoch
        }
        if resumed && !recovered {
            return .deliverAndRecoveryFailed(room: room, reason: object["reason"] as? String ?? "unknown")
        }
        return .deliver
    }
}
