import FanoutCore
import Hummingbird
import HummingbirdCore
public import HummingbirdWebSocket
import Logging
import NIOCore
import FanoutRedis
import Prometheus
import Synchronization

extension Edge {
    /// The HTTP side of the edge: `/ws` (WebSocket), `/healthz`, `/readyz`, and the browser files
    /// (`/` chat demo, `/fanout.js` and `/fanout.mjs` client library; see ``WebAssets``).
    func makeApplication(authenticator: Authenticator) -> some ApplicationProtocol {
        let router = Router(context: EdgeRequestContext.self)
        router.add(middleware: HandshakeDeadline.Middleware())
        router.get("/") { _, _ in WebAssets.demoPage.response() }
        router.get("/fanout.js") { _, _ in WebAssets.clientLibrary.response() }
        router.get("/fanout.mjs") { _, _ in WebAssets.clientModule.response() }
        router.get("/healthz") { _, _ in
            // Alive as long as the process answers.
            "ok\n"
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: PrometheusMetricsFactory.defaultRegistry.emitToBuffer())))
        }
        router.get("/readyz") { _, _ -> Response in
            let ready = self.isReady
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : self.notReadyReason + "\n")))
        }
        router.ws("/ws") { request, context in
            do throws(UpgradeRefusal) {
                let user = try await self.admit(request, channel: context.channel, authenticator: authenticator)
                if let user {
                    let key = ObjectIdentifier(context.channel)
                    self.pendingUsers.withLock { $0[key] = user }
                    // An upgrade that fails after this point must not leave the entry behind.
                    context.channel.closeFuture.whenComplete { _ in _ = self.pendingUsers.withLock { $0.removeValue(forKey: key) } }
                }
            } catch let refusal {
                self.upgradeRefusals.record(refusal, on: context.channel)
                throw HTTPError(refusal.status, message: refusal.reason)
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let channel = context.requestContext.channel
            let user = self.pendingUsers.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
            try await self.session(inbound: inbound, outbound: outbound, channel: channel, user: user, logger: context.logger)
        }
        let configuration = self.configuration
        let channelConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(
                additionalChannelHandlers: [self.openChannels.makeHandler(), self.upgradeRefusals.makeRewriter()],
                idleTimeout: .init(configuration.httpIdleTimeout)),
            ws: configuration.webSocketServerConfiguration)
        let responder = router.buildResponder()
        let counters = self.counters
        let server = HTTPServerBuilder { httpResponder in
            EdgeServerChannel(
                upgradeChannel: HTTP1WebSocketUpgradeChannel(
                    responder: httpResponder, webSocketResponder: responder, configuration: channelConfiguration),
                handshakeTimeout: .init(configuration.handshakeTimeout),
                onHandshakeTimeout: { counters.refusal("handshake_timeout") })
        }
        return Application(
            responder: responder,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "fanout-edge"),
            onServerRunning: { channel in
                self.serverStarted(port: channel.localAddress?.port ?? self.configuration.port)
            },
            logger: logger
        )
    }

    /// Decides whether a WebSocket upgrade may proceed; returns the authenticated user, if any.
    /// Checked cheapest first: draining, origin, capacity (which takes the connection's slot), token.
    private func admit(_ request: Request, channel: any Channel, authenticator: Authenticator) async throws(UpgradeRefusal) -> UserID? {
        if isDraining {
            counters.refusal("draining")
            throw .draining
        }
        if !configuration.allowedOrigins.isEmpty, let origin = request.headers[.origin], !configuration.allowedOrigins.contains(origin) {
            counters.refusal("origin")
            throw .originNotAllowed
        }
        do throws(ConnectionSlots.Refusal) {
            try slots.reserve(for: channel)
        } catch {
            switch error {
            case .edgeFull:
                counters.refusal("capacity")
                throw .atCapacity
            case .addressFull:
                counters.refusal("address_capacity")
                throw .addressAtCapacity
            }
        }
        do {
            return try await authenticator.authenticate(
                authorization: request.headers[.authorization], queryToken: request.uri.queryParameters.get("token"))
        } catch {
            counters.refusal("auth")
            throw .unauthorized(error.reason)
        }
    }

    var notReadyReason: String {
        if isDraining { return "draining" }
        if !redis.isConnected { return "redis unavailable" }
        if !subscriber.isReady { return "subscriber not ready" }
        if !heartbeatRecorded.load(ordering: .relaxed) { return "heartbeat not recorded yet" }
        return "not ready"
    }
}

extension EdgeConfiguration {
    /// The WebSocket settings of every edge connection; `fanout bench ceiling` uses the same ones so
    /// that its numbers are a fair ceiling for the edge's.
    public var webSocketServerConfiguration: WebSocketServerConfiguration {
        WebSocketServerConfiguration(
            maxFrameSize: maxMessageBytes,
            autoPing: .enabled(timePeriod: pingInterval),
            closeTimeout: .seconds(5),
            validateUTF8: true)
    }
}
