import FanoutCore
import NIOCore

/// The part of `EdgeConfiguration` a connection reads on its hot path, as plain values: each
/// connection keeps a copy (about 100 bytes) instead of the whole configuration (strings, sets,
/// Redis settings), and reads it without touching shared objects.
struct ConnectionSettings {
    let edgeID: EdgeID
    let maxMessageBytes: Int
    let maxStreamLength: Int
    let outboxMessages: Int
    let overloadPolicy: RefusalPolicy
    let unavailablePolicy: RefusalPolicy
    let pingInterval: TimeAmount
    let slowConsumerGrace: TimeAmount
    let rateLimit: Double
    let rateBurst: Int
    let rateLimitStrikes: Int
    let socketSendBuffer: Int

    init(_ configuration: EdgeConfiguration) {
        edgeID = configuration.edgeID
        maxMessageBytes = configuration.maxMessageBytes
        maxStreamLength = configuration.maxStreamLength
        outboxMessages = configuration.outboxMessages
        overloadPolicy = configuration.overloadPolicy
        unavailablePolicy = configuration.unavailablePolicy
        pingInterval = TimeAmount(configuration.pingInterval)
        slowConsumerGrace = TimeAmount(configuration.slowConsumerGrace)
        rateLimit = configuration.rateLimit
        rateBurst = configuration.rateBurst
        rateLimitStrikes = configuration.rateLimitStrikes
        socketSendBuffer = configuration.socketSendBuffer
    }
}
