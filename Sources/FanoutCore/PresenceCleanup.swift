public import FanoutRedis

/// What removes a closed connection from presence: SREM from each room it was in (the reply of
/// `SMEMBERS <prefix>:presence:conn:<id>`), then DEL of its own set. The edge sends it when a
/// connection ends, and again at shutdown for every connection it still held; one place, so the
/// two cannot drift apart.
public enum PresenceCleanup {
    public static func commands(for id: ConnectionID, roomsReply: RedisValue, keySpace: KeySpace) -> [RedisCommand] {
        var commands: [RedisCommand] = (roomsReply.array ?? []).compactMap { $0.string.flatMap(RoomName.init) }.map {
            .srem(keySpace.roomMembers($0), [id.rawValue])
        }
        commands.append(.del([keySpace.connectionRooms(id)]))
        return commands
    }
}
