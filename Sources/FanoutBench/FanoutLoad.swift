import NIOCore

/// `fanout`: members join one room with the chat protocol; the first `publishers` of them send
/// `say` messages on an open-loop schedule (aggregate `rate`). Every member, senders included,
/// should receive every message: expected deliveries = messages × members. Latency runs from the
/// message's intended send time to each delivery.
final class FanoutLoad: BenchReceiver {
    let size: Int
    let phase: BenchPhase
    let room: String
    /// Members that joined, set before the first message is sent: each send expects this many deliveries.
    let members: Int

    private static let joinedPrefix = Array(#"{"type":"joined""#.utf8)
    private static let messagePrefix = Array(#"{"type":"message""#.utf8)
    private static let errorPrefix = Array(#"{"type":"error""#.utf8)
    private let sayPrefix: [UInt8]
    private let saySuffix = Array(#""}"#.utf8)

    init(size: Int, phase: BenchPhase, room: String, members: Int) {
        self.size = size
        self.phase = phase
        self.room = room
        self.members = members
        self.sayPrefix = Array(#"{"type":"say","room":"\#(room)","text":""#.utf8)
    }

    /// Asks to join the room. On the connection's loop.
    func join(_ connection: BenchConnection) {
        guard let channel = connection.channel, connection.open else { return }
        connection.send(text: channel.allocator.buffer(string: #"{"type":"join","room":"\#(room)"}"#))
    }

    /// Sends every message whose intended time has come, then schedules the next (open loop).
    func tick(_ connection: BenchConnection) {
        guard let channel = connection.channel, connection.open else { return }
        let now = monotonicNanoseconds()
        while connection.nextIntended <= now {
            guard phase.current != BenchPhase.draining else { return }
            var buffer = channel.allocator.buffer(capacity: sayPrefix.count + size + saySuffix.count)
            buffer.writeBytes(sayPrefix)
            BenchPayload.write(connection: connection.index, sequence: connection.nextSequence, time: connection.nextIntended, size: size, into: &buffer)
            buffer.writeBytes(saySuffix)
            connection.nextSequence += 1
            connection.nextIntended += connection.interval
            connection.stats.sent += members
            connection.send(text: buffer)
        }
        connection.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(connection.nextIntended)) { self.tick(connection) }
    }

    func received(_ payload: ByteBuffer, on connection: BenchConnection) {
        let now = monotonicNanoseconds()
        let bytes = payload.readableBytesView
        if bytes.starts(with: Self.errorPrefix) {
            connection.stats.errors += 1
            return
        }
        if !connection.ready {
            guard bytes.starts(with: Self.joinedPrefix) else {
                connection.stats.mismatches += 1
                return
            }
            connection.ready = true
            connection.stats.ready += 1
            return
        }
        // {"type":"message","room":"R","from":"<id>","text":"<payload>"[,"offset":N]}: the payload
        // is the last `size` bytes before the text's closing quote, so no JSON parsing is needed.
        let quote = Self.textEnd(bytes)
        let headerStart = quote - size
        guard headerStart > bytes.startIndex, bytes.starts(with: Self.messagePrefix),
            bytes[quote] == UInt8(ascii: "\""), bytes[bytes.endIndex - 1] == UInt8(ascii: "}"),
            let fields = BenchPayload.parseHeader(bytes, at: headerStart)
        else {
            connection.stats.mismatches += 1
            return
        }
        connection.stats.received += 1
        if phase.inWindow(fields.time) {
            connection.stats.measured += 1
            connection.stats.record(nanoseconds: now &- fields.time)
        }
    }
}

extension FanoutLoad {
    private static let offsetKey = Array(#","offset":"#.utf8)

    /// The index of the text's closing quote: before `"}`, or before `,"offset":N}` (history on).
    static func textEnd(_ bytes: ByteBufferView) -> ByteBufferView.Index {
        var index = bytes.endIndex - 2
        while index > bytes.startIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index -= 1 }
        let keyStart = index - offsetKey.count + 1
        if index < bytes.endIndex - 2, keyStart > bytes.startIndex, bytes[keyStart...index].elementsEqual(offsetKey) {
            return keyStart - 1
        }
        return bytes.endIndex - 2
    }
}

extension Bench {
    static func fanout(_ settings: BenchSettings) async throws -> BenchReport {
        let phase = BenchPhase(watching: settings.watch)
        let size = max(settings.payloadBytes, BenchPayload.headerBytes)
        return try await withClient(settings) { client in
            let joiner = FanoutLoad(size: size, phase: phase, room: settings.room, members: settings.members)
            let (connections, failures) = await client.open(
                count: settings.members, concurrency: settings.connectConcurrency, receiver: joiner)
            // Every send expects `members` deliveries, so every member must be there.
            guard failures == 0 else {
                await client.close(connections)
                throw BenchError("\(failures) of \(settings.members) members could not connect to \(settings.target)")
            }
            await client.onEach(connections) { joiner.join($0) }
            let joined = try await client.waitFor(timeout: .seconds(30)) { $0.ready + $0.errors + $0.mismatches >= connections.count }
            guard joined.ready == connections.count else {
                throw BenchError("only \(joined.ready) of \(connections.count) members joined room \(settings.room)")
            }
            let publishers = connections.prefix(max(1, min(settings.publishers, connections.count)))
            let interval = UInt64(Double(publishers.count) / Double(max(1, settings.rate)) * 1e9)
            let start = monotonicNanoseconds() + 1_000_000
            let count = UInt64(publishers.count)
            await client.onEach(Array(publishers)) { connection in
                connection.interval = interval
                connection.nextIntended = start + interval * UInt64(connection.index) / count
                joiner.tick(connection)
            }
            try await Task.sleep(for: settings.warmup)
            let windowStart = phase.startMeasuring()
            try await Task.sleep(for: settings.duration)
            let windowEnd = phase.startDraining()
            let totals = try await client.waitFor(timeout: settings.drainTimeout) { $0.received + $0.mismatches >= $0.sent }
            await client.close(connections)
            let seconds = Double(windowEnd - windowStart) / 1e9
            return BenchReport(
                mode: .fanout, target: settings.target.description, connections: connections.count,
                payloadBytes: size, seconds: seconds, throughput: Double(totals.measured) / seconds,
                offered: Double(settings.rate * connections.count), latency: .init(totals.latency),
                sent: totals.sent, received: totals.received,
                lost: max(0, totals.sent - totals.received - totals.mismatches), mismatches: totals.mismatches,
                errors: totals.errors).measuringCPU(phase)
        }
    }
}
