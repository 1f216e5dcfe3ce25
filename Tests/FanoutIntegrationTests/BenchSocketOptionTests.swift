import FanoutTesting
import NIOCore
import Testing

@testable import FanoutBench

/// The load generator's sockets carry no SOL_SOCKET option it did not mean to set (issue 12: its
/// `.socketOption(.tcp_nodelay)` was SO_DEBUG, which an unprivileged user cannot set).
@Suite struct BenchSocketOptionTests {
    private final class Ignore: BenchReceiver {
        func received(_ payload: ByteBuffer, on connection: BenchConnection) {}
    }

    @Test func benchConnectionsSetNoDebugOptionAndKeepNagleOff() async throws {
        try await TestCeiling.run { target in
            let client = BenchClient(target: target, threads: 1)
            let connection = try await client.connect(index: 0, receiver: Ignore())
            let channel = try await connection.eventLoop.submit { connection.channel }.get()
            let options = try await SocketOptionsReadBack.read(try #require(channel))
            #expect(options.debug == 0, "SO_DEBUG is set on a bench socket")
            #expect(options.noDelay != 0, "TCP_NODELAY is off on a bench socket")
            try? await channel?.close()
            await client.shutdown()
        }
    }
}
