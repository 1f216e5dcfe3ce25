public import FanoutCore
import Foundation
import NIOCore

/// The built-in chat protocol (JSON text frames):
///
/// - `{"type":"join","room":"R"}` → `{"type":"joined","room":"R","offset":N,"epoch":"E","recovered":false}`:
///   N is the room's offset at the join (history on; with `FANOUT_HISTORY_SIZE=0` the reply is
///   `{"type":"joined","room":"R"}`, and messages have no offset)
/// - `{"type":"join","room":"R","since":N,"epoch":"E"}` → `joined` with `"recovered":true`, then
///   every room message after N (from history), then the live ones; or `"recovered":false` with a
///   `"reason"` (`trimmed`, `expired`, `epoch_changed`, `unknown_offset`, `disabled`) and the live
///   ones after the room's offset now. `epoch` is optional (without it, a lost history is only
///   noticed when the offsets do not fit).
/// - `{"type":"say","room":"R","text":"…"}` → every member of R on any edge, sender included, gets
///   `{"type":"message","room":"R","from":"<connection id>","text":"…","offset":N}` (N: the
///   message's offset in R, 1, 2, 3 …)
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
                let since: RecoveryRequest?
                switch Self.recoveryRequest(object) {
                case .success(let request): since = request
                case .failure(let problem): return context.reply(text: Self.error(problem.reason))
                }
                let outcome = try await context.join(message.connection, room: room, since: since)
                context.reply(text: Self.joined(room, outcome))
            case "leave":
                guard try await context.isMember(message.connection, of: room) else { return context.reply(text: Self.error("not joined: \(room)")) }
                context.leave(message.connection, room: room)
                context.reply(text: Self.object(["type": "left", "room": room.rawValue]))
            default:
                guard let text = object["text"] as? String else { return context.reply(text: Self.error("missing \"text\"")) }
                guard try await context.isMember(message.connection, of: room) else { return context.reply(text: Self.error("not joined: \(room)")) }
                let payload = Self.object(["type": "message", "room": room.rawValue, "from": message.connection.rawValue, "text": text])
                guard context.keepsHistory else { return context.broadcast(room, .text, ByteBuffer(string: payload)) }
                // `…,"offset":` + N + `}`: Redis writes N when it assigns it.
                context.broadcast(room, .text, OffsetStampedPayload(
                    before: ByteBuffer(string: payload.dropLast() + #","offset":"#), after: ByteBuffer(string: "}")))
            }
        default:
            context.reply(text: Self.error("unknown type: \(type.prefix(64))"))
        }
    }

    static func error(_ reason: String) -> String { object(["type": "error", "error": reason]) }

    /// `since` (a non-negative integer) and `epoch` (digits, as a string or a number) of a join.
    static func recoveryRequest(_ object: [String: Any]) -> Result<RecoveryRequest?, EnvelopeError> {
        guard let rawSince = object["since"], !(rawSince is NSNull) else { return .success(nil) }
        guard !(rawSince is String), let since = (rawSince as? Int).map(Int64.init), since >= 0 else { return .failure(EnvelopeError(#"invalid "since": expected a non-negative integer"#)) }
        var epoch: Int64?
        switch object["epoch"] {
        case nil, is NSNull: break
        case let text as String:
            guard let value = Int64(text), value >= 0 else { return .failure(EnvelopeError(#"invalid "epoch""#)) }
            epoch = value
        case let number as Int:
            guard number >= 0 else { return .failure(EnvelopeError(#"invalid "epoch""#)) }
            epoch = Int64(number)
        default:
            return .failure(EnvelopeError(#"invalid "epoch""#))
        }
        return .success(RecoveryRequest(offset: since, epoch: epoch))
    }

    /// `{"type":"joined","room":R}`, with history `…,"offset":N,"epoch":"E","recovered":B[,"reason":…]}`.
    static func joined(_ room: RoomName, _ outcome: RoomJoin) -> String {
        var out = object(["type": "joined", "room": room.rawValue])
        guard let position = outcome.roomPosition else {
            // History off: today's reply, plus the answer to a client that asked to recover.
            guard let reason = outcome.reason else { return out }
            return out.dropLast() + #","recovered":false,"reason":"\#(reason.rawValue)"}"#
        }
        out.removeLast()
        out += #","offset":\#(position.offset),"epoch":"\#(position.epoch)","recovered":\#(outcome.recovered == true)"#
        if let reason = outcome.reason { out += #","reason":"\#(reason.rawValue)""# }
        return out + "}"
    }

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
