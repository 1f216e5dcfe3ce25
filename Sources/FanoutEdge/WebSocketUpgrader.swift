import FanoutCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket upgrade of one edge connection: whether it may proceed (`UpgradeGate`), the
/// handshake (NIO's `NIOWebSocketServerUpgrader` computes `Sec-WebSocket-Accept` and checks key and
/// version), and the pipeline after it — NIO's frame decoder and a `WebSocketConnection`, nothing else.
///
/// One per TCP connection, confined to its event loop. A refusal fails the upgrade with an
/// `UpgradeRefusal`; NIO's upgrade handler reports it to `EdgeHTTPHandler` and passes the request
/// on, and that handler answers it with the refusal's status and reason.
final class WebSocketUpgrader: HTTPServerProtocolUpgrader {
    let supportedProtocol = "websocket"
    /// None: RFC 6455 does not make clients list `Sec-WebSocket-Key` in `Connection`, which NIO
    /// would require of names listed here; the handshake checks them itself.
    let requiredUpgradeHeaders: [String] = []

    private let handshake: NIOWebSocketServerUpgrader
    private let gate: UpgradeGate
    private let loop: EdgeLoop
    /// The authenticated user, from the decision to the connection it opens.
    private var user: UserID?

    init(handshake: NIOWebSocketServerUpgrader, gate: UpgradeGate, loop: EdgeLoop) {
        self.handshake = handshake
        self.gate = gate
        self.loop = loop
    }

    /// The handshake every edge connection shares: accepts every request it is handed (the
    /// decision is the gate's) and is never asked to build a pipeline.
    static func makeHandshake(maxFrameSize: Int) -> NIOWebSocketServerUpgrader {
        NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize, automaticErrorHandling: false,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededVoidFuture() })
    }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders)
        -> EventLoopFuture<HTTPHeaders>
    {
        guard Self.path(of: upgradeRequest.uri) == "/ws" else { return channel.eventLoop.makeFailedFuture(UpgradeRefusal.notFound) }
        let gate = self.gate
        return handshake.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
            .flatMap { headers in gate.admit(upgradeRequest, channel: channel).map { user in (headers, user) } }
            .assumeIsolated()
            .map { headers, user in
                self.user = user
                return headers
            }
            .nonisolated()
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        let connection = WebSocketConnection(id: ConnectionID.generate(on: loop.edge.configuration.edgeID), user: user, loop: loop)
        do {
            try context.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: loop.edge.configuration.maxMessageBytes)),
                connection,
            ])
            return context.eventLoop.makeSucceededVoidFuture()
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
    }

    static func path(of uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(uri)
    }
}

/// Decides whether a WebSocket upgrade may proceed; checked cheapest first: draining, origin,
/// capacity (which takes the connection's slot until its TCP connection closes), token.
struct UpgradeGate: Sendable {
    let edge: EdgeContext
    let authenticator: Authenticator

    /// The authenticated user (`nil`: anonymous), or a failed future with an `UpgradeRefusal`.
    func admit(_ request: HTTPRequestHead, channel: any Channel) -> EventLoopFuture<UserID?> {
        let counters = edge.counters
        if edge.isDraining {
            counters.refusal("draining")
            return channel.eventLoop.makeFailedFuture(UpgradeRefusal.draining)
        }
        let origins = edge.configuration.allowedOrigins
        if !origins.isEmpty, let origin = request.headers.first(name: "Origin"), !origins.contains(origin) {
            counters.refusal("origin")
            return channel.eventLoop.makeFailedFuture(UpgradeRefusal.originNotAllowed)
        }
        do throws(ConnectionSlots.Refusal) {
            try edge.slots.reserve(for: channel)
        } catch {
            switch error {
            case .edgeFull:
                counters.refusal("capacity")
                return channel.eventLoop.makeFailedFuture(UpgradeRefusal.atCapacity)
            case .addressFull:
                counters.refusal("address_capacity")
                return channel.eventLoop.makeFailedFuture(UpgradeRefusal.addressAtCapacity)
            }
        }
        guard authenticator.mode != .off else { return channel.eventLoop.makeSucceededFuture(nil) }
        let authenticator = self.authenticator
        let authorization = request.headers.first(name: "Authorization")
        let queryToken = Self.queryParameter("token", in: request.uri)
        // Verifying a signature is async in JWTKit (its key collection is an actor): one task per
        // authenticated upgrade, never per frame.
        return channel.eventLoop.makeFutureWithTask {
            do throws(Authenticator.Failure) {
                return try await authenticator.authenticate(authorization: authorization, queryToken: queryToken)
            } catch {
                counters.refusal("auth")
                throw UpgradeRefusal.unauthorized(error.reason)
            }
        }
    }

    /// The percent-decoded value of query parameter `name`, if the URI has it.
    static func queryParameter(_ name: String, in uri: String) -> String? {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first == Substring(name) else { continue }
            let raw = parts.count > 1 ? String(parts[1]) : ""
            return raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
        }
        return nil
    }
}
