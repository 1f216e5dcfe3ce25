import FanoutTesting
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import FanoutRedis

#if canImport(Glibc)
import Glibc
#endif

/// What Fanout's Redis sockets really have set, read back from the kernel after connecting — a
/// guard that needs no strace and fails even when the tests run as root (where a privileged
/// option such as SO_DEBUG is granted silently instead of failing with EACCES).
@Suite struct SocketOptionTests {
    @Test func aRedisConnectionSetsNoDebugOptionAndKeepsNagleOff() async throws {
        let server = try await RedisTestServer.shared()
        let connection = try await RedisConnection.connect(
            configuration: try RedisConfiguration(url: server.url), eventLoop: NIOSingletons.posixEventLoopGroup.next(),
            logger: Logger(label: "test"))
        defer { connection.close() }
        let options = try await SocketOptionsReadBack.read(connection.channel)
        #expect(options.debug == 0, "SO_DEBUG is set: a SOL_SOCKET option the connection never meant to set")
        #expect(options.noDelay != 0, "TCP_NODELAY is off: pipelined commands would wait for Nagle")
    }

    @Test func aPermissionErrorIsNotReportedAsConnectionRefused() {
        let denied = IOError(errnoCode: EACCES, reason: "setsockopt(descriptor:level:option_name:option_value:option_len:)")
        let error = RedisError.connecting(to: "127.0.0.1:6379", failure: denied, connectTimeout: .seconds(1))
        #expect(error.code == .permissionDenied)
        #expect(error.message.contains("setsockopt") && error.message.contains("errno: 13") && error.message.contains("not a Redis problem"))
        #expect(!error.isRetryable)

        let notPermitted = RedisError.connecting(
            to: "127.0.0.1:6379", failure: IOError(errnoCode: EPERM, reason: "socket"), connectTimeout: .seconds(1))
        #expect(notPermitted.code == .permissionDenied)

        let unreachable = RedisError.connecting(
            to: "10.0.0.1:6379", failure: IOError(errnoCode: ENETUNREACH, reason: "connect"), connectTimeout: .seconds(1))
        #expect(unreachable.code == .connectFailed)
        #expect(unreachable.message.contains("errno: \(ENETUNREACH)"))
        #expect(unreachable.isRetryable)
    }
}
