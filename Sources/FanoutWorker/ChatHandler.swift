public import FanoutCore
import Foundation
import NIOCore

/// The built-in chat protocol (JSON text frames):
///
/// - `{"type":"join","room":"R"}` → `{"type":"joined","room":"R"}`
/// - `{"type":"say","room":"R","text":"…"}` → every member of R on any edge, sender included, gets
///   `{"type":"message","room":"R","from":"<connection id>","text":"…"}`
/// - `{"type":"leave","room":"R"}` → `{"type":"left","room":"R"}`
/// - anything else (malformed JSON, unknown type, a room not joined, an invalid room name) →
///   `{"type":"error","error":"<reason>"}`; the connection stays open.
public struct ChatHandler: MessageHandler {
    public init() {}

    public func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message else { return }
        guard message.frameType == .text,
            let object = try? JSONSerialization.jsonObject(with: Data(message.payload.readableBytesView)) as? [String: Any]
        else {
            return context.reply(text: Self.error("malformed JSON: expected an object"))
        }
        guard let type = object["type"] as? String else { return context.reply(text: Self.error("missing \"type\"")) }
        switch type {
        case "join", "say", "leave":
            guard let rawRoom = object["room"] as? String else { return context.reply(text: Self.error("missing \"room\"")) }
            guard let room = RoomName(rawRoom) else {
                return context.reply(text: Self.error("invalid room name: 1-128 of [A-Za-z0-9._-]"))
            }
            switch type {
            case "join":
                context.join(message.connection, room: room)
                context.reply(text: Self.object(["type": "joined", "room": room.rawValue]))
            case "leave":
                guard try await context.isMember(message.connection, of: room) else { return context.reply(text: Self.error("not joined: \(room)")) }
                context.leave(message.connection, room: room)
                context.reply(text: Self.object(["type": "left", "room": room.rawValue]))
            default:
                guard let text = object["text"] as? String else { return context.reply(text: Self.error("missing \"text\"")) }
                guard try await context.isMember(message.connection, of: room) else { return context.reply(text: Self.error("not joined: \(room)")) }
                let payload = Self.object(["type": "message", "room": room.rawValue, "from": message.connection.rawValue, "text": text])
                context.broadcast(room, .text, ByteBuffer(string: payload))
            }
        default:
            context.reply(text: Self.error("unknown type: \(type.prefix(64))"))
        }
    }

    static func error(_ reason: String) -> String { object(["type": "error", "error": reason]) }

    /// A JSON object with keys in the documented order (`type` first), string values only.
    static func object(_ pairs: KeyValuePairs<String, String>) -> String {
        var out = "{"
        for (index, (key, value)) in pairs.enumerated() {
            if index > 0 { out += "," }
            out += JSONString.quote(key) + ":" + JSONString.quote(value)
        }
        return out + "}"
    }
}

/// RFC 8259 string quoting.
enum JSONString {
    static func quote(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
