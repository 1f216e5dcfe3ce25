import FanoutCore
import FanoutRedis
import FanoutTesting
import FanoutWorker
import Foundation
import Logging
import NIOCore
import Testing

/// Property tests of `ChatHandler` on frames no client library would send, with a fixed seed: the
/// quick, always-on counterpart of the `FuzzChatHandler` libFuzzer target (Docs/fuzzing.md).
///
/// The context's `RedisClient` is never run, so the membership query of `say` and `leave` fails at
/// once; everything before it (JSON parsing, field checks, all of `join`, every error reply) runs
/// as in a worker.
@Suite struct ChatHandlerPropertyTests {
    static let logger = Logger(label: "fanout.test.chat", factory: { _ in SwiftLogNoOpLogHandler() })
    static let redis = RedisClient(configuration: RedisConfiguration(), logger: logger)
    static let connection = ConnectionID("prop.connection")!

    /// The text replies the handler recorded for one frame, each parsed as JSON (nil if it is not an object).
    static func replies(to payload: [UInt8]) async -> (objects: [[String: Any]?], joins: [RoomName]) {
        let isText = String(validating: payload, as: UTF8.self) != nil
        let entry = InboundEntry(
            kind: .message, connection: connection, edge: EdgeID("prop")!, frameType: isText ? .text : .binary, receivedAt: 1,
            payload: ByteBuffer(bytes: payload))
        let message = InboundMessage(id: "1-0", entry: entry, deliveryCount: 1)
        let context = MessageContext(message: message, keySpace: KeySpace(prefix: "prop"), redis: redis, logger: logger)
        try? await ChatHandler().handle(message, context: context)
        var objects: [[String: Any]?] = []
        var joins: [RoomName] = []
        for effect in context.effects {
            switch effect {
            case .publish(_, .frame(.text, let reply, _, _, _), _):
                objects.append(try? JSONSerialization.jsonObject(with: Data(reply.readableBytesView)) as? [String: Any])
            case .join(let joiner, let room, _):
                #expect(joiner == connection)
                joins.append(room)
            default: break
            }
        }
        return (objects, joins)
    }

    /// A chat frame built from valid and invalid parts: known and unknown types, good and bad room
    /// names, fields of the wrong JSON type, extra keys.
    static func randomFrame(_ random: inout SeededRandom) -> (bytes: [UInt8], type: String?, room: String?) {
        var object: [String: Any] = [:]
        let type = ["join", "say", "leave", "hello", "", random.text(1...8)].randomElement(using: &random)!
        if random.chance(0.9) { object["type"] = random.chance(0.9) ? type : 42 }
        let room = random.chance(0.5)
            ? random.string(1...128, from: "abcXYZ019._-")
            : [random.string(129...140, from: "ab"), "lob by", "room:1", "", "é", "*"].randomElement(using: &random)!
        if random.chance(0.9) { object["room"] = random.chance(0.9) ? room : ["nested": true] }
        if random.chance(0.7) { object["text"] = random.chance(0.8) ? random.text(0...30) : NSNull() }
        if random.chance(0.3) { object[random.text(1...5)] = random.text(0...5) }
        let data = try! JSONSerialization.data(withJSONObject: object)
        return (Array(data), object["type"] as? String, object["room"] as? String)
    }

    @Test func everyReplyToAnyFrameIsAJSONObjectWithAStringType() async {
        var random = SeededRandom(seed: 7)
        var joined = 0
        var errors = 0
        for iteration in 0..<3000 {
            let frame = Self.randomFrame(&random)
            let bytes = switch iteration % 4 {
            case 0: random.mutated(frame.bytes)
            case 1: random.bytes(Int.random(in: 0...40, using: &random))
            default: frame.bytes
            }
            let (objects, joins) = await Self.replies(to: bytes)
            #expect(objects.count <= 1, "iteration \(iteration): \(objects.count) replies")
            for object in objects {
                #expect(object?["type"] is String, "iteration \(iteration): reply \(String(describing: object)) to \(bytes)")
            }
            // Where the outcome needs no Redis, it is exactly the documented one.
            guard bytes == frame.bytes else { continue }
            let reply = objects.first ?? nil
            if frame.type == "join", let room = frame.room, RoomName(room) != nil {
                #expect(reply?["type"] as? String == "joined" && reply?["room"] as? String == room && joins == [RoomName(room)!], "iteration \(iteration)")
                joined += 1
            } else if frame.type == nil || !["join", "say", "leave"].contains(frame.type!) || frame.room.flatMap(RoomName.init) == nil {
                #expect(reply?["type"] as? String == "error" && reply?["error"] is String && joins.isEmpty, "iteration \(iteration): \(String(describing: reply))")
                errors += 1
            }
        }
        #expect(joined > 50 && errors > 500, "joined \(joined), errors \(errors)")
    }
}
