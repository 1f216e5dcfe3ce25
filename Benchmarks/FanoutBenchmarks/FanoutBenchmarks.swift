// The micro-benchmarks: one suite, run by `bash scripts/bench-micro.sh` (see BENCHMARKS.md).
//
// CPU-only benchmarks run 1,000 operations per iteration (`scalingFactor: .kilo`), so the clock's
// own cost stays out of the numbers; the Redis ones run one operation (or one batch) per iteration.
// The interesting numbers are the malloc counts: they are exact, repeatable on any machine, and
// say how many heap allocations one decode, encode or round trip costs.
//
// Environment:
//   FANOUT_BENCH_QUICK=1          every benchmark runs one iteration, no warm-up (the script's --quick)
//   FANOUT_BENCH_REDIS_URL=redis://127.0.0.1:PORT   enables the RedisClient benchmarks
import Benchmark
import FanoutCore
@_spi(Benchmarks) import FanoutRedis
import Foundation
import NIOCore

let benchmarks: @Sendable () -> Void = {
    let environment = ProcessInfo.processInfo.environment
    let quick = environment["FANOUT_BENCH_QUICK"] == "1"
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .mallocBytesCount],
        timeUnits: .nanoseconds,
        warmupIterations: quick ? 0 : 3,
        scalingFactor: .kilo,
        maxDuration: quick ? .milliseconds(1) : .seconds(2),
        maxIterations: quick ? 1 : 10_000
    )
    registerEnvelopeBenchmarks()
    registerInboundEntryBenchmarks()
    registerRESPBenchmarks()
    if let url = environment["FANOUT_BENCH_REDIS_URL"] {
        registerRedisClientBenchmarks(url: url)
    } else {
        FileHandle.standardError.write(Data("FanoutBenchmarks: FANOUT_BENCH_REDIS_URL not set; RedisClient benchmarks skipped (scripts/bench-micro.sh sets it)\n".utf8))
    }
}

/// The pub/sub format: what a worker builds per result, what an edge parses per received message.
func registerEnvelopeBenchmarks() {
    for (label, size) in [("64 B", 64), ("4 KiB", 4096)] {
        let envelope = Samples.envelope(size)
        let bytes = envelope.encode()
        Benchmark("OutboundEnvelope.encode \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(envelope.encode())
            }
        }
        Benchmark("OutboundEnvelope.decode \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try OutboundEnvelope(decoding: bytes))
            }
        }
    }
}

/// The stream format: the fields an edge XADDs per client frame, and a worker's decode of an entry.
func registerInboundEntryBenchmarks() {
    let entry = Samples.inboundEntry(64)
    Benchmark("InboundEntry.fields 64 B") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(entry.fields)
        }
    }
    for (label, size) in [("64 B", 64), ("4 KiB", 4096)] {
        let streamEntry = Samples.streamEntry(size)
        Benchmark("InboundEntry.init(StreamEntry) \(label)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try InboundEntry(streamEntry))
            }
        }
    }
}

/// Bytes to and from the socket: hiredis's reader and argv formatter behind FanoutRedis's values.
func registerRESPBenchmarks() {
    let fields = Samples.inboundEntry(64).fields
    Benchmark("RedisCommand.xadd (InboundEntry fields) 64 B") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RedisCommand.xadd(Samples.streamKey, maxLength: 1_000_000, fields: fields))
        }
    }
    let xadd = RedisCommand.xadd(Samples.streamKey, maxLength: 1_000_000, fields: fields)
    Benchmark("RESPCommandEncoder XADD 64 B") { benchmark in
        // The connection encodes a batch into one buffer per write; a reused, cleared buffer
        // isolates the encoder's own allocations from the buffer's growth.
        var buffer = ByteBuffer()
        buffer.reserveCapacity(1024)
        for _ in benchmark.scaledIterations {
            buffer.clear()
            xadd.writeRESP(into: &buffer)  // RESPCommandEncoder.encode, through its SPI entry point
            blackHole(buffer.readableBytes)
        }
    }

    let reply = Samples.xreadgroupReply(entries: 64, payloadSize: 64)
    let reader = RESPReader()
    // 64 entries per operation (tens of microseconds): one operation per iteration is enough.
    let batchConfiguration = Benchmark.Configuration(scalingFactor: .one)
    Benchmark("RESPReader XREADGROUP reply (64 entries × 64 B)", configuration: batchConfiguration) { benchmark in
        for _ in benchmark.scaledIterations {
            try reader.feed(reply)
            blackHole(try reader.next())
        }
    }
    reader.clear()
    let value = try! reader.parse(reply)
    Benchmark("StreamEntry.decodeRead (64 entries)", configuration: batchConfiguration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try StreamEntry.decodeRead(value))
        }
    }
    Benchmark("Worker read path: RESP → StreamEntry → InboundEntry (64 entries)", configuration: batchConfiguration) { benchmark in
        for _ in benchmark.scaledIterations {
            try reader.feed(reply)
            for entry in try StreamEntry.decodeRead(reader.next()!) {
                blackHole(try InboundEntry(entry))
            }
        }
    }
    let bulk = Samples.bulkStringReply(4096)
    Benchmark("RESPReader bulk string 4 KiB") { benchmark in
        for _ in benchmark.scaledIterations {
            try reader.feed(bulk)
            blackHole(try reader.next())
        }
    }
}

/// The client against a real redis-server on loopback: latency of one command, and the automatic
/// pipelining that batches the commands of concurrent tasks (how edges append client frames).
func registerRedisClientBenchmarks(url: String) {
    let fields = Samples.inboundEntry(64).fields
    let oneOperation = Benchmark.Configuration(scalingFactor: .one)

    let ping = try! RedisFixture(url: url)
    Benchmark(
        "RedisClient PING round trip", configuration: oneOperation,
        closure: { _ in
            blackHole(try await ping.client.send(RedisCommand("PING")))
        },
        setup: { try await ping.start() },
        teardown: { await ping.stop() }
    )

    let xadd = try! RedisFixture(url: url)
    Benchmark(
        "RedisClient 64 concurrent XADD 64 B (automatic pipelining)", configuration: oneOperation,
        closure: { _ in
            let client = xadd.client
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        blackHole(try await client.xadd(Samples.streamKey, maxLength: 100_000, fields: fields))
                    }
                }
                try await group.waitForAll()
            }
        },
        setup: {
            try await xadd.start()
            _ = try await xadd.client.send(RedisCommand("DEL", [Samples.streamKey]))
        },
        teardown: {
            _ = try? await xadd.client.send(RedisCommand("DEL", [Samples.streamKey]))
            await xadd.stop()
        }
    )
}

extension RESPReader {
    /// Drops whatever a previous benchmark left unread (every benchmark reads all it feeds; this is a guard).
    func clear() {
        while (try? next()) != nil {}
    }

    /// Feeds one complete reply and returns it.
    func parse(_ bytes: ByteBuffer) throws -> RedisValue {
        try feed(bytes)
        guard let value = try next() else { fatalError("incomplete reply") }
        return value
    }
}
