import NIOCore

/// `echo-open`: every connection sends on a fixed schedule (aggregate `rate` over all connections),
/// whether or not replies came back. Each payload carries its *intended* send time and latency is
/// measured from it, so a stall shows up as latency instead of hiding as fewer samples
/// (coordinated omission). A send that fires late catches up on every intended time it missed.
final class EchoOpenLoad: BenchReceiver {
    let size: Int
    let phase: BenchPhase

    init(size: Int, phase: BenchPhase) {
        self.size = size
        self.phase = phase
    }

    /// Sends every message whose intended time has come, then schedules the next. On its loop.
    func tick(_ connection: BenchConnection) {
        guard let channel = connection.channel, connection.open else { return }
        let now = monotonicNanoseconds()
        while connection.nextIntended <= now {
            guard phase.current != BenchPhase.draining else { return }
            let payload = BenchPayload.make(
                connection: connection.index, sequence: connection.nextSequence, time: connection.nextIntended, size: size,
                allocator: channel.allocator)
            connection.nextSequence += 1
            connection.nextIntended += connection.interval
            connection.stats.sent += 1
            connection.send(text: payload)
        }
        connection.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(connection.nextIntended)) { self.tick(connection) }
    }

    func received(_ payload: ByteBuffer, on connection: BenchConnection) {
        let now = monotonicNanoseconds()
        // Several messages are in flight, so the reply is checked against its own fields: it must be
        // the exact bytes this connection sent for a sequence number it did send.
        guard let fields = BenchPayload.parse(payload.readableBytesView, size: size),
            fields.connection == connection.index, fields.sequence < connection.nextSequence
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

extension Bench {
    static func echoOpen(_ settings: BenchSettings) async throws -> BenchReport {
        let phase = BenchPhase(watching: settings.watch)
        let load = EchoOpenLoad(size: max(settings.payloadBytes, BenchPayload.headerBytes), phase: phase)
        return try await withClient(settings) { client in
            let (connections, failures) = await client.open(
                count: settings.connections, concurrency: settings.connectConcurrency, receiver: load)
            guard !connections.isEmpty else { throw BenchError("no connection to \(settings.target) could be opened") }
            // Each connection sends every C/R seconds; their first sends are spread over one interval.
            let interval = UInt64(Double(connections.count) / Double(max(1, settings.rate)) * 1e9)
            let start = monotonicNanoseconds() + 1_000_000
            let count = UInt64(connections.count)
            await client.onEach(connections) { connection in
                connection.interval = interval
                connection.nextIntended = start + interval * UInt64(connection.index) / count
                load.tick(connection)
            }
            try await Task.sleep(for: settings.warmup)
            let windowStart = phase.startMeasuring()
            try await Task.sleep(for: settings.duration)
            let windowEnd = phase.startDraining()
            let totals = try await client.waitFor(timeout: settings.drainTimeout) { $0.received + $0.mismatches >= $0.sent }
            await client.close(connections)
            let seconds = Double(windowEnd - windowStart) / 1e9
            return BenchReport(
                mode: .echoOpen, target: settings.target.description, connections: connections.count,
                payloadBytes: load.size, seconds: seconds, throughput: Double(totals.measured) / seconds,
                offered: Double(settings.rate), latency: .init(totals.latency), sent: totals.sent, received: totals.received,
                lost: max(0, totals.sent - totals.received - totals.mismatches), mismatches: totals.mismatches,
                errors: totals.errors + failures).measuringCPU(phase)
        }
    }
}
