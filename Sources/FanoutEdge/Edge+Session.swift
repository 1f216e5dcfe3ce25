import FanoutCore
import FanoutRedis
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Metrics
import Synchronization

extension Edge {
    /// One WebSocket connection, as one structured scope: a reader child (client → stream) and a
    /// writer child (outbox → client). When one ends the other is cancelled, and the registration,
    /// subscriptions and presence are undone on every exit path.
    func session(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel, user: UserID?, logger: Logger
    ) async throws {
        let id = ConnectionID.generate(on: configuration.edgeID)
        var logger = logger
        logger[metadataKey: "fanout.conn"] = "\(id)"
        let connection = EdgeConnection(
            id: id, user: user, outbox: Outbox(maxMessages: configuration.outboxMessages, maxBytes: configuration.outboxBytes))
        if configuration.socketSendBuffer > 0 {
            try? await channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(configuration.socketSendBuffer)).get()
        }
        registry.register(connection)
        var opened = false
        defer { registry.unregister(connection) }
        do {
            // Subscribe before anything of this client reaches the stream: no result can be
            // published before its edge listens.
            try await subscriber.subscribe([keySpace.connection(id)])
            // A user's channel is shared by all its connections on this edge (send(toUser:)).
            if let user { try await registry.shared.add(connection, to: keySpace.user(user)) }
            _ = try await redis.send(.sadd(keySpace.edgeConnections(configuration.edgeID), [id.rawValue]))
            try await append(.open, connection)
            opened = true
        } catch {
            logger.warning("refusing a connection: Redis is unavailable", metadata: ["fanout.error": "\(error)"])
            counters.refusal("unavailable")
            await unsubscribeAll(connection)
            try? await outbound.close(.unknown(CloseCode.tryAgainLater), reason: "try again later")
            return
        }
        logger.debug("connection opened")
        let maxMessageBytes = configuration.maxMessageBytes
        let sessionLogger = logger
        do {
            try await withThrowingTaskGroup(of: SessionTask.self) { group in
                group.addTask {
                    // The 1-based number of each message on this connection, named in refusals so a
                    // client knows exactly which of its messages were not accepted.
                    var sequence = 0
                    var rateLimit = self.configuration.rateLimit > 0
                        ? TokenBucket(rate: self.configuration.rateLimit, burst: self.configuration.rateBurst, now: .now) : nil
                    // Refused messages in a row; past the allowance the client is closed with 1008.
                    var strikes = 0
                    for try await message in inbound.messages(maxSize: maxMessageBytes) {
                        sequence += 1
                        if rateLimit?.take(now: .now) == false {
                            strikes += 1
                            if strikes <= self.configuration.rateLimitStrikes {
                                _ = self.refuse(connection, reason: "rate_limited", sequence: sequence, policy: .errorFrame)
                                continue
                            }
                            self.counters.refusal("rate_limit_close")
                            sessionLogger.info("closing a connection that kept exceeding its rate limit")
                            connection.outbox.closeAfterQueued(code: CloseCode.policyViolation, reason: "rate limit exceeded")
                            return .readerHandedOverToWriter
                        }
                        strikes = 0
                        if self.admission.isRefusing {
                            if self.refuse(connection, reason: "overloaded", sequence: sequence, policy: self.configuration.overloadPolicy) { continue }
                            return .readerHandedOverToWriter
                        }
                        let (type, payload): (FrameType, ByteBuffer) = switch message {
                        case .text(let text): (.text, ByteBuffer(string: text))
                        case .binary(let buffer): (.binary, buffer)
                        }
                        do {
                            try await self.append(.message, connection, type, payload)
                        } catch let error as RedisError {
                            // The frame was not accepted: say so instead of dropping it silently.
                            sessionLogger.debug("Redis unavailable; refusing a frame", metadata: ["fanout.error": "\(error)"])
                            if self.refuse(connection, reason: "unavailable", sequence: sequence, policy: self.configuration.unavailablePolicy) { continue }
                            return .readerHandedOverToWriter
                        }
                        self.counters.messageIn(type, bytes: payload.readableBytes)
                    }
                    return .readerEnded
                }
                group.addTask {
                    try await self.write(connection, to: outbound)
                    return .writerEnded
                }
                group.addTask {
                    // A slow consumer gets its 4008 close frame as soon as it reads again; one that
                    // does not read at all within the grace period is dropped at the TCP level,
                    // because a stalled socket would otherwise hold its writer (and buffers) forever.
                    await connection.outbox.waitUntilOverflowed()
                    guard !Task.isCancelled else { return .writerEnded }
                    try? await Task.sleep(for: self.configuration.slowConsumerGrace)
                    guard !Task.isCancelled else { return .writerEnded }
                    sessionLogger.info("dropping a slow consumer that did not read its close frame")
                    channel.close(promise: nil)
                    return .writerEnded
                }
                // Whichever side ends first ends the session — except a reader that asked the
                // writer to deliver a close: then the writer must get to send it.
                if try await group.next() == .readerHandedOverToWriter {
                    _ = try await group.next()
                }
                group.cancelAll()
            }
        } catch {
            await close(connection, opened: opened, logger: logger)
            throw error  // the WebSocket layer turns protocol errors into their close codes (1002, 1007, 1009)
        }
        await close(connection, opened: opened, logger: logger)
    }

    /// Answers a frame the edge cannot accept. Returns `true` when the connection stays open.
    /// The error frame is `{"type":"error","error":"<reason>","retry":true,"seq":<n>}`, `n` being the
    /// refused message's 1-based number on this connection; reasons: `overloaded`, `unavailable`,
    /// `rate_limited` (README: "Limits and their answers").
    private func refuse(_ connection: EdgeConnection, reason: String, sequence: Int, policy: RefusalPolicy) -> Bool {
        counters.refusal(reason)
        switch policy {
        case .errorFrame:
            let frame = #"{"type":"error","error":"\#(reason)","retry":true,"seq":\#(sequence)}"#
            connection.outbox.push(.frame(.text, ByteBuffer(string: frame), origin: nil))
            return true
        case .close:
            connection.outbox.closeAfterQueued(code: CloseCode.tryAgainLater, reason: "try again later")
            return false
        }
    }

    /// The writer: drains the outbox into the socket, in order, until it ends or a close is asked for.
    private func write(_ connection: EdgeConnection, to outbound: WebSocketOutboundWriter) async throws {
        while let item = await connection.outbox.next() {
            switch item {
            case .frame(let type, let buffer, let origin):
                try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: type == .text ? .text : .binary, data: buffer)))
                counters.messageOut(type, bytes: buffer.readableBytes)
                if let origin {
                    // Wall clock on both ends (edge received → written here), possibly across edges.
                    counters.endToEndLatency.recordMicroseconds(max(0, WallClock.microseconds() - origin))
                }
            case .close(let code, let reason):
                try await outbound.close(WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
                return
            case .join(let room):
                // Awaited before the next item: the "joined" reply that follows is written only
                // once the room subscription is confirmed.
                do {
                    try await registry.join(connection, room: room)
                } catch {
                    // Without the subscription the client would miss broadcasts while believing it joined.
                    logger.warning("room subscription failed; closing with 1013", metadata: ["fanout.conn": "\(connection.id)", "fanout.error": "\(error)"])
                    counters.refusal("unavailable")
                    try await outbound.close(WebSocketErrorCode(codeNumber: Int(CloseCode.tryAgainLater)), reason: "try again later")
                    return
                }
            case .leave(let room):
                await registry.leave(connection, room: room)
            }
        }
    }

    /// Appends one entry for `connection` to the inbound stream.
    func append(_ kind: InboundEntry.Kind, _ connection: EdgeConnection, _ type: FrameType = .text, _ payload: ByteBuffer = ByteBuffer()) async throws {
        let entry = InboundEntry(
            kind: kind, connection: connection.id, edge: configuration.edgeID, frameType: type,
            receivedAt: WallClock.microseconds(), user: connection.user, payload: payload)
        let start = ContinuousClock.now
        try await redis.xadd(entry.xadd(to: inboundStream, maxLength: configuration.maxStreamLength))
        counters.appendDuration.recordElapsed(since: start)
    }

    private func close(_ connection: EdgeConnection, opened: Bool, logger: Logger) async {
        await unsubscribeAll(connection)
        await removePresence(of: connection.id)
        _ = try? await redis.send(.srem(keySpace.edgeConnections(configuration.edgeID), [connection.id.rawValue]))
        if opened {
            do {
                try await append(.close, connection)
            } catch {
                logger.warning("could not append the close entry", metadata: ["fanout.error": "\(error)"])
            }
        }
        logger.debug("connection closed")
    }

    /// Removes the connection from every room it joined (presence lives in Redis, written by workers).
    func removePresence(of id: ConnectionID) async {
        do {
            let rooms = try await redis.send(.smembers(keySpace.connectionRooms(id))).array ?? []
            var commands: [RedisCommand] = rooms.compactMap { $0.string.flatMap(RoomName.init) }.map {
                .srem(keySpace.roomMembers($0), [id.rawValue])
            }
            commands.append(.del([keySpace.connectionRooms(id)]))
            _ = try await redis.pipeline(commands)
        } catch {
            logger.warning("presence cleanup failed; the connection may stay listed in its rooms", metadata: ["fanout.error": "\(error)"])
        }
    }

    private func unsubscribeAll(_ connection: EdgeConnection) async {
        try? await subscriber.unsubscribe([keySpace.connection(connection.id)])
        if let user = connection.user { await registry.shared.remove(connection.id, from: keySpace.user(user)) }
        for room in connection.rooms.withLock({ $0 }) {
            await registry.leave(connection, room: room)
        }
    }
}

/// How a session's child task ended.
enum SessionTask: Sendable {
    case readerEnded
    case readerHandedOverToWriter
    case writerEnded
}
