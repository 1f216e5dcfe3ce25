import Foundation
import NIOCore
import Synchronization

extension CeilingServer {
    /// The chat protocol of `ChatHandler`, answered in memory: the same JSON in and out, so the
    /// bench's `fanout` mode runs unchanged against either.
    func chat(_ text: String, from id: String, outbox: AsyncStream<ByteBuffer>.Continuation) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let type = object["type"] as? String, let room = object["room"] as? String
        else {
            outbox.yield(ByteBuffer(string: Self.object(["type": "error", "error": "malformed"])))
            return
        }
        switch type {
        case "join":
            rooms.join(id, room: room, outbox: outbox)
            outbox.yield(ByteBuffer(string: Self.object(["type": "joined", "room": room])))
        case "leave":
            rooms.leave(id, room: room)
            outbox.yield(ByteBuffer(string: Self.object(["type": "left", "room": room])))
        case "say":
            guard let said = object["text"] as? String, rooms.isMember(id, of: room) else {
                outbox.yield(ByteBuffer(string: Self.object(["type": "error", "error": "not joined: \(room)"])))
                return
            }
            // One encoding per broadcast; every member's outbox gets the same buffer.
            let buffer = ByteBuffer(string: Self.object(["type": "message", "room": room, "from": id, "text": said]))
            for member in rooms.members(of: room) { member.yield(buffer) }
        default:
            outbox.yield(ByteBuffer(string: Self.object(["type": "error", "error": "unknown type"])))
        }
    }

    /// A JSON object with keys in the given order, string values only (as `ChatHandler` writes them).
    static func object(_ pairs: KeyValuePairs<String, String>) -> String {
        "{" + pairs.map { quote($0.key) + ":" + quote($0.value) }.joined(separator: ",") + "}"
    }

    static func quote(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// The ceiling's rooms: members' outboxes by room, under one lock.
final class CeilingRooms: Sendable {
    private let rooms = Mutex<[String: [String: AsyncStream<ByteBuffer>.Continuation]]>([:])

    func join(_ id: String, room: String, outbox: AsyncStream<ByteBuffer>.Continuation) {
        rooms.withLock { $0[room, default: [:]][id] = outbox }
    }

    func leave(_ id: String, room: String) {
        rooms.withLock { _ = $0[room]?.removeValue(forKey: id) }
    }

    func leaveAll(_ id: String) {
        rooms.withLock { rooms in
            for room in rooms.keys { rooms[room]?.removeValue(forKey: id) }
        }
    }

    func isMember(_ id: String, of room: String) -> Bool {
        rooms.withLock { $0[room]?[id] != nil }
    }

    func members(of room: String) -> [AsyncStream<ByteBuffer>.Continuation] {
        rooms.withLock { Array(($0[room] ?? [:]).values) }
    }
}
