import FanoutRedis
import Logging

/// The replies to a connection's XADDs (tagged with the message's sequence number, or `openTag`)
/// and to its registration in the edge's connection set (`ignoredTag`), delivered on its loop.
/// All are enqueued `acknowledgedTo:` this connection: only success or failure matters here, so a
/// success arrives as `.null` (or as the entry ID, when held for a WAIT).
extension WebSocketConnection: RedisReplyReceiver {
    func redisReply(_ reply: RedisValue, tag: Int) {
        if case .error(let message) = reply {
            redisFailure(RedisError(.server, message, command: "XADD"), tag: tag)
            return
        }
        switch tag {
        case Self.openTag: opened()
        case Self.ignoredTag: break
        default: acknowledged(tag)
        }
    }

    func redisFailure(_ error: RedisError, tag: Int) {
        switch tag {
        case Self.openTag: refuseConnection()
        case Self.ignoredTag: break
        default:
            acknowledged(tag)
            // The message was not accepted: say so instead of dropping it silently.
            logger.debug("Redis did not take a frame; refusing it", metadata: ["fanout.conn": "\(id)", "fanout.error": "\(error)"])
            refuse(tag, reason: "unavailable", policy: configuration.unavailablePolicy)
        }
    }
}
