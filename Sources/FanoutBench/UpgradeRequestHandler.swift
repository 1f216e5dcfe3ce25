import NIOCore
import NIOHTTP1

/// Sends the HTTP upgrade request once the socket is connected, and fails the upgrade promise if the
/// socket fails or closes first (a refused upgrade arrives here as an error from NIO's upgrade handler).
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let target: BenchTarget
    private let upgraded: EventLoopPromise<Void>

    init(target: BenchTarget, upgraded: EventLoopPromise<Void>) {
        self.target = target
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(target.host):\(target.port)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(BenchError("the server closed the connection before the upgrade completed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        upgraded.fail(BenchError("upgrade failed: \(error)"))
        context.close(promise: nil)
    }
}

/// Why a bench run could not be carried out.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
