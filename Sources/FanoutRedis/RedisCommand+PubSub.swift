public import NIOCore

extension RedisCommand {
    /// `PUBLISH channel message` — https://redis.io/commands/publish. Replies with the receiver count.
    public static func publish(_ channel: String, _ message: ByteBuffer) -> Self {
        var command = RedisCommand("PUBLISH", [channel])
        command.append(message)
        return command
    }

    /// `PUBLISH channel message`, with the message written in place by `writeMessage` and room for
    /// `messageBytes` reserved: one buffer for the whole command.
    public static func publish(_ channel: String, messageBytes: Int, writeMessage: (inout ByteBuffer) -> Void) -> Self {
        var command = RedisCommand("PUBLISH", reservingArguments: 2, bytes: channel.utf8.count + messageBytes)
        command.append(channel)
        command.append(writing: writeMessage)
        return command
    }

    /// `SUBSCRIBE channel [channel …]` — https://redis.io/commands/subscribe (sent by `RedisSubscriber`).
    public static func subscribe(_ channels: [String]) -> Self { RedisCommand("SUBSCRIBE", channels) }

    /// `UNSUBSCRIBE channel [channel …]` — https://redis.io/commands/unsubscribe (sent by `RedisSubscriber`).
    public static func unsubscribe(_ channels: [String]) -> Self { RedisCommand("UNSUBSCRIBE", channels) }

    /// `PUBSUB CHANNELS [pattern]` — https://redis.io/commands/pubsub-channels
    public static func pubsubChannels(pattern: String? = nil) -> Self {
        RedisCommand("PUBSUB", ["CHANNELS"] + (pattern.map { [$0] } ?? []))
    }

    /// `PUBSUB NUMSUB channel …` — https://redis.io/commands/pubsub-numsub
    public static func pubsubNumsub(_ channels: [String]) -> Self { RedisCommand("PUBSUB", ["NUMSUB"] + channels) }
}

extension RedisClient {
    /// Publishes `message` and returns how many subscribers received it (0: nobody listened).
    public func publish(_ channel: String, _ message: ByteBuffer) async throws -> Int {
        let reply = try await send(.publish(channel, message))
        guard let count = reply.int else { throw RedisError(.unexpectedReply, "expected an integer, got \(reply)", command: "PUBLISH") }
        return Int(count)
    }
}
