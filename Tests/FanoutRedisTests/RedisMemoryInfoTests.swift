import FanoutRedis
import NIOCore
import Testing

/// `INFO memory` decoding, on the reply shape Redis 7.0 sends.
@Suite struct RedisMemoryInfoTests {
    @Test func usedMemoryAndMaxMemoryAreReadFromInfoLines() {
        let text = "# Memory\r\nused_memory:1035240\r\nused_memory_human:1010.98K\r\nused_memory_rss:7057408\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n"
        let info = RedisMemoryInfo(.bulkString(ByteBuffer(string: text)))
        #expect(info == RedisMemoryInfo(usedMemory: 1_035_240, maxMemory: 0))
        #expect(RedisMemoryInfo(.bulkString(ByteBuffer(string: "# Memory\r\nused_memory_rss:5\r\n"))) == nil)
        #expect(RedisMemoryInfo(.integer(3)) == nil)
    }
}
