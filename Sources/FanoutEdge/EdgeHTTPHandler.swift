import FanoutCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Prometheus

/// The plain HTTP side of an edge connection, until (unless) it becomes a WebSocket: `/healthz`,
/// `/readyz`, `/metrics`, the browser files, and the answer to a refused upgrade.
///
/// It also bounds how long a connection may take to deliver a request head (the handshake
/// timeout) and how long a keep-alive connection may idle between requests. When the connection
/// is upgraded, the upgrade removes this handler and its timers with it.
final class EdgeHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What `/readyz` says: ready, or the reason it is not.
    typealias Readiness = @Sendable () -> String?

    private let configuration: EdgeConfiguration
    private let counters: EdgeCounters
    private let readiness: Readiness
    private var timer: Scheduled<Void>?
    /// Why the upgrade attempted on this connection was refused; answered to its request.
    private var refusal: UpgradeRefusal?
    private var requestHead: HTTPRequestHead?

    init(configuration: EdgeConfiguration, counters: EdgeCounters, readiness: @escaping Readiness) {
        self.configuration = configuration
        self.counters = counters
        self.readiness = readiness
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A connection that never completes a request head is closed: idle or slow-loris sockets
        // must not hold memory before they are even counted as WebSocket connections.
        let channel = context.channel
        let counters = self.counters
        timer = context.eventLoop.scheduleTask(in: TimeAmount(configuration.handshakeTimeout)) {
            counters.refusal("handshake_timeout")
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let refusal as UpgradeRefusal:
            // The upgrade handler reports a refused upgrade here, then passes the request on.
            self.refusal = refusal
        case is NIOWebSocketUpgradeError:
            refusal = .badHandshake
        default:
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            timer?.cancel()
            timer = nil
            requestHead = head
        case .body:
            break  // no route takes a body
        case .end:
            guard let head = requestHead else { return }
            requestHead = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        if let refusal {
            self.refusal = nil
            return send(refusal.status, refusal.reason + "\n", contentType: "text/plain; charset=utf-8", head: head, context: context,
                close: true, extraHeaders: refusal.status == .unauthorized ? [("WWW-Authenticate", "Bearer")] : [])
        }
        guard head.method == .GET || head.method == .HEAD else {
            return send(.methodNotAllowed, "method not allowed\n", head: head, context: context, close: false)
        }
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        switch path {
        case "/healthz":
            send(.ok, "ok\n", head: head, context: context)
        case "/readyz":
            if let reason = readiness() {
                send(.serviceUnavailable, reason + "\n", head: head, context: context)
            } else {
                send(.ok, "ready\n", head: head, context: context)
            }
        case "/metrics":
            let body = ByteBuffer(bytes: PrometheusMetricsFactory.defaultRegistry.emitToBuffer())
            send(.ok, body, contentType: "text/plain; version=0.0.4", head: head, context: context)
        case "/":
            send(WebAssets.demoPage, head: head, context: context)
        case "/fanout.js":
            send(WebAssets.clientLibrary, head: head, context: context)
        case "/fanout.mjs":
            send(WebAssets.clientModule, head: head, context: context)
        case "/ws":
            send(.badRequest, "expected a WebSocket upgrade\n", head: head, context: context, close: true)
        default:
            send(.notFound, "not found\n", head: head, context: context)
        }
    }

    private func send(_ asset: WebAssets.Asset, head: HTTPRequestHead, context: ChannelHandlerContext) {
        send(.ok, asset.body, contentType: asset.contentType, head: head, context: context, extraHeaders: [("Cache-Control", "no-cache")])
    }

    private func send(
        _ status: HTTPResponseStatus, _ body: String, contentType: String = "text/plain; charset=utf-8", head: HTTPRequestHead,
        context: ChannelHandlerContext, close: Bool = false, extraHeaders: [(String, String)] = []
    ) {
        send(status, context.channel.allocator.buffer(string: body), contentType: contentType, head: head, context: context,
            close: close, extraHeaders: extraHeaders)
    }

    private func send(
        _ status: HTTPResponseStatus, _ body: ByteBuffer, contentType: String, head: HTTPRequestHead, context: ChannelHandlerContext,
        close: Bool = false, extraHeaders: [(String, String)] = []
    ) {
        let keepAlive = head.isKeepAlive && !close
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.readableBytes)"), ("Server", "fanout-edge")])
        headers.add(contentsOf: extraHeaders)
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive {
            // Idle keep-alive connections are closed after the idle timeout (reset by the next request).
            let channel = context.channel
            timer = context.eventLoop.scheduleTask(in: TimeAmount(configuration.httpIdleTimeout)) { channel.close(promise: nil) }
        } else {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
