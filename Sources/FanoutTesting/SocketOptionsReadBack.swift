public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads socket options back from a connected channel, for tests that guard what Fanout's sockets
/// really carry (issue 12: a `.socketOption(.tcp_nodelay)` was SO_DEBUG, which needs CAP_NET_ADMIN).
public enum SocketOptionsReadBack {
    /// `SO_DEBUG` (level `SOL_SOCKET`) and `TCP_NODELAY` (level `IPPROTO_TCP`) as the kernel reports them.
    public static func read(_ channel: any Channel) async throws -> (debug: Int32, noDelay: Int32) {
        let debug = try await channel.getOption(
            ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_DEBUG))
        ).get()
        let noDelay = try await channel.getOption(ChannelOptions.tcpOption(.tcp_nodelay)).get()
        return (Int32(debug), Int32(noDelay))
    }
}
