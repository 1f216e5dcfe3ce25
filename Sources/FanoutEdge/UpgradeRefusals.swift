import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Carries refusals from the upgrade decision to the HTTP response that announces them.
///
/// hummingbird-websocket answers every refused upgrade itself, with a bodyless 400, whatever the
/// route threw. The route records its refusal here under the connection's channel; the
/// ``ResponseRewriter`` that the not-upgraded pipeline gets (via `additionalChannelHandlers`)
/// picks it up and turns that 400 into the refusal's status and reason. An entry lives only until
/// the rewriter takes it or the channel closes, so a recycled `ObjectIdentifier` never inherits one.
final class UpgradeRefusals: Sendable {
    private let pending = Mutex<[ObjectIdentifier: UpgradeRefusal]>([:])

    /// Records `refusal` as the answer to the upgrade attempted on `channel`.
    func record(_ refusal: UpgradeRefusal, on channel: any Channel) {
        let key = ObjectIdentifier(channel)
        pending.withLock { $0[key] = refusal }
        channel.closeFuture.whenComplete { _ in self.take(key) }
    }

    @discardableResult
    private func take(_ key: ObjectIdentifier) -> UpgradeRefusal? {
        pending.withLock { $0.removeValue(forKey: key) }
    }

    /// Entries waiting for their response (for tests: none may leak).
    var count: Int { pending.withLock { $0.count } }

    /// The per-connection handler of the not-upgraded (plain HTTP) pipeline.
    func makeRewriter() -> some RemovableChannelHandler { ResponseRewriter(refusals: self) }

    /// Rewrites hummingbird-websocket's bodyless 400 for a refused upgrade into the recorded status
    /// with a `text/plain` one-line reason; passes every other response through untouched.
    private final class ResponseRewriter: ChannelOutboundHandler, RemovableChannelHandler {
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        let refusals: UpgradeRefusals
        private var refusal: UpgradeRefusal?
        private var droppingBody = false

        init(refusals: UpgradeRefusals) { self.refusals = refusals }

        // The pipeline gets this handler only after the upgrade decision, so a refusal made for
        // this channel is already recorded.
        func handlerAdded(context: ChannelHandlerContext) {
            refusal = refusals.take(ObjectIdentifier(context.channel))
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            guard let refusal else { return context.write(data, promise: promise) }
            switch unwrapOutboundIn(data) {
            case .head(var head) where head.status == .badRequest:
                droppingBody = true
                let body = refusal.reason + "\n"
                head.status = refusal.status
                head.headerFields[.contentLength] = "\(body.utf8.count)"
                head.headerFields[.contentType] = "text/plain; charset=utf-8"
                if refusal.status == .unauthorized { head.headerFields[.wwwAuthenticate] = "Bearer" }
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: promise)
            case .body where droppingBody:
                // hummingbird's 400 has no body; were one added, the length we set must stay true.
                promise?.succeed()
            case .head, .body, .end:
                context.write(data, promise: promise)
            }
        }
    }
}
