import FanoutCore
import Hummingbird
import HummingbirdWebSocket
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
            if self.isDraining {
                self.counters.refusal("draining")
                throw HTTPError(.serviceUnavailable, message: "edge is shutting down")
            }
            if self.connectionCount >= self.configuration.maxConnections {
                self.counters.refusal("capacity")
                throw HTTPError(.serviceUnavailable, message: "edge is at its connection limit")
            }
            do {
                let user = try await authenticator.authenticate(
                    authorization: request.headers[.authorization], queryToken: request.uri.queryParameters.get("token"))
                if let user { self.pendingUsers.withLock { $0[ObjectIdentifier(context.channel)] = user } }
            } catch let failure as Authenticator.Failure {
                self.counters.refusal("auth")
                throw HTTPError(.unauthorized, message: failure.reason)
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let channel = context.requestContext.channel
            let user = self.pendingUsers.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
            try await self.session(inbound: inbound, outbound: outbound, channel: channel, user: user, logger: context.logger)
        }
        let webSocket = WebSocketServerConfiguration(
            maxFrameSize: configuration.maxMessageBytes,
            autoPing: .enabled(timePeriod: .seconds(30)),
            closeTimeout: .seconds(5),
            validateUTF8: true)
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router, configuration: webSocket,
                additionalChannelHandlers: [self.openChannels.makeHandler()]),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "fanout-edge"),
            onServerRunning: { channel in
                self.serverStarted(port: channel.localAddress?.port ?? self.configuration.port)
            },
            logger: logger
        )
    }

    var notReadyReason: String {
        if isDraining { return "draining" }
        if !redis.isConnected { return "redis unavailable" }
        if !subscriber.isReady { return "subscriber not ready" }
        if !heartbeatRecorded.load(ordering: .relaxed) { return "heartbeat not recorded yet" }
        return "not ready"
    }
}
