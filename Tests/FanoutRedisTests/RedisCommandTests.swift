import NIOCore
import Testing

@testable import FanoutRedis

/// Commands as values: what their arguments are, byte for byte.
@Suite struct RedisCommandTests {
    @Test(arguments: [Int64(0), 7, -7, 1_000_000, 1_700_000_000_123_456, Int64.max, Int64.min])
    func integersAreWrittenInDecimalLikeString(value: Int64) {
        var command = RedisCommand("ECHO")
        command.append(decimal: value)
        #expect(command.arguments.map { String(buffer: $0) } == [String(value)])
    }

    @Test func reservingCapacityDoesNotChangeTheArguments() {
        var reserved = RedisCommand("SET", reservingArguments: 2, bytes: 4)
        reserved.append("key")
        reserved.append(ByteBuffer(bytes: [0, 255, 10]))
        var plain = RedisCommand("SET")
        plain.append("key")
        plain.append(ByteBuffer(bytes: [0, 255, 10]))
        #expect(reserved.arguments == plain.arguments)
        #expect(reserved.argumentCount == 2)
    }
}
