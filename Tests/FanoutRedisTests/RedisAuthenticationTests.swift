import Logging
import NIOPosix
import FanoutTesting
import NIOCore
import Testing

@testable import FanoutRedis

@Suite struct RedisAuthenticationTests {
    private func connect(_ url: String) async throws -> RedisConnection {
        try await RedisConnection.connect(
            configuration: try RedisConfiguration(url: url), eventLoop: NIOSingletons.posixEventLoopGroup.next(), logger: .init(label: "t"))
    }

    @Test func wrongPasswordIsAnAuthenticationErrorThatNamesTheCauseButNotThePassword() async throws {
        let server = try await RedisTestServer.start(password: "right-password")
        let error = await #expect(throws: RedisError.self) { _ = try await connect("redis://:wrong-password@127.0.0.1:\(server.port)") }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("WRONGPASS") == true)
        #expect(!"\(error!)".contains("wrong-password"))

        let missing = await #expect(throws: RedisError.self) { _ = try await connect("redis://127.0.0.1:\(server.port)") }
        #expect(missing?.code == .authenticationFailed)
        #expect(missing?.message.contains("NOAUTH") == true)

        let connection = try await connect("redis://:right-password@127.0.0.1:\(server.port)/2")
        #expect(try await connection.send(.ping()) == .simpleString("PONG"))
        #expect(try await connection.send(RedisCommand("CLIENT", ["INFO"])).string?.contains("db=2") == true)
        connection.close()
        await server.stop()
    }

    @Test func authenticatesAnACLUser() async throws {
        let server = try await RedisTestServer.start(extraArguments: ["--user", "alice", "on", ">alice-secret", "~*", "&*", "+@all"])
        let connection = try await connect("redis://alice:alice-secret@127.0.0.1:\(server.port)")
        #expect(try await connection.send(RedisCommand("ACL", ["WHOAMI"])).string == "alice")
        connection.close()
        let error = await #expect(throws: RedisError.self) { _ = try await connect("redis://alice:nope@127.0.0.1:\(server.port)") }
        #expect(error?.code == .authenticationFailed)
        await server.stop()
    }
}
