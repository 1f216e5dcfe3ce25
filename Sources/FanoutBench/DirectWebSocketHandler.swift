import Foundation
import NIOCore
import NIOWebSocket
import Synchronization

/// One connection of the direct reference server: echo, or the chat protocol, answered in place on
/// the channel's event loop; replies are flushed once per read, as NIO's own examples do.
final class DirectWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let id: String
    let rooms: DirectRooms
    private var closing = false

    init(id: String, rooms: DirectRooms) {
        self.id = id
        self.rooms = rooms
    }

    func channelInactive(context: ChannelHandlerContext) {
        rooms.leaveAll(id)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            let payload = frame.unmaskedData
            if frame.opcode == .text, payload.readableBytesView.first == UInt8(ascii: "{") {
                chat(String(buffer: payload), context: context)
            } else {
                context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: frame.opcode, data: payload)), promise: nil)
            }
        case .ping:
            context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            guard !closing else { return context.close(promise: nil) }
            closing = true
            var data = frame.unmaskedData
            let code = data.readSlice(length: 2) ?? context.channel.allocator.buffer(capacity: 0)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)))
                .whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    private func chat(_ text: String, context: ChannelHandlerContext) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let type = object["type"] as? String, let room = object["room"] as? String
        else {
            return reply(DirectRooms.object(["type": "error", "error": "malformed"]), context: context)
        }
        switch type {
        case "join":
            rooms.join(id, room: room, channel: context.channel)
            reply(DirectRooms.object(["type": "joined", "room": room]), context: context)
        case "leave":
            rooms.leave(id, room: room)
            reply(DirectRooms.object(["type": "left", "room": room]), context: context)
        case "say":
            guard let said = object["text"] as? String else {
                return reply(DirectRooms.object(["type": "error", "error": "missing text"]), context: context)
            }
            let members = rooms.members(of: room)
            guard members[id] != nil else {
                return reply(DirectRooms.object(["type": "error", "error": "not joined: \(room)"]), context: context)
            }
            // One encoding per broadcast, written to every member's channel.
            let frame = WebSocketFrame(
                fin: true, opcode: .text,
                data: context.channel.allocator.buffer(string: DirectRooms.object(["type": "message", "room": room, "from": id, "text": said])))
            for member in members.values { member.writeAndFlush(frame, promise: nil) }
        default:
            reply(DirectRooms.object(["type": "error", "error": "unknown type"]), context: context)
        }
    }

    private func reply(_ text: String, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: context.channel.allocator.buffer(string: text))), promise: nil)
    }
}

/// The direct server's rooms: member channels by room, under one lock, as in NIO's chat example.
final class DirectRooms: Sendable {
    private let rooms = Mutex<[String: [String: any Channel]]>([:])

    func join(_ id: String, room: String, channel: any Channel) {
        rooms.withLock { $0[room, default: [:]][id] = channel }
    }

    func leave(_ id: String, room: String) {
        rooms.withLock { _ = $0[room]?.removeValue(forKey: id) }
    }

    func leaveAll(_ id: String) {
        rooms.withLock { rooms in
            for room in rooms.keys { rooms[room]?.removeValue(forKey: id) }
        }
    }

    func members(of room: String) -> [String: any Channel] {
        rooms.withLock { $0[room] ?? [:] }
    }

    /// A JSON object with keys in the given order, string values only (as `ChatHandler` writes them).
    static func object(_ pairs: KeyValuePairs<String, String>) -> String {
        "{" + pairs.map { CeilingServer.quote($0.key) + ":" + CeilingServer.quote($0.value) }.joined(separator: ",") + "}"
    }
}
