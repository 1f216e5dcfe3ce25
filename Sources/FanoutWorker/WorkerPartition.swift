import FanoutRedis
import Logging
import NIOCore
import Synchronization

/// One inbound stream as a worker reads it: the stream, a Redis client of its own and the event
/// loop its batch loop runs on (decision 0006, once per partition — decision 0041).
///
/// Its own client, because a blocking `XREADGROUP` holds its connection's reply FIFO for the
/// block time: two partitions' reads on one connection would wait behind each other, and so would
/// every effect sent meanwhile. In a cluster that client keeps one connection per master: the read
/// and the XACK go to the master of this stream's slot — never a read across slots — and each
/// effect to the master of its channel's slot, on connections no other partition's read blocks.
final class WorkerPartition: Sendable {
    /// 0-based, in `KeySpace.inboundStreams` order.
    let index: Int
    let stream: String
    let redis: RedisClient
    let executor: EventLoopTaskExecutor
    /// The group exists and the last read succeeded.
    let ready = Atomic<Bool>(false)

    init(index: Int, stream: String, redis: RedisConfiguration, eventLoop: any EventLoop, logger: Logger) {
        self.index = index
        self.stream = stream
        self.executor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.redis = RedisClient(configuration: redis, eventLoop: eventLoop, logger: logger)
    }
}
