import NIOCore

/// `echo-closed`: each connection sends one payload, waits for the identical bytes, and sends the
/// next at once. Throughput is replies received inside the window; latency is send → reply.
final class EchoClosedLoad: BenchReceiver {
    let size: Int
    let phase: BenchPhase

    init(size: Int, phase: BenchPhase) {
        self.size = size
        self.phase = phase
    }

    /// Sends the connection's next message. On its loop.
    func sendNext(_ connection: BenchConnection) {
        guard let channel = connection.channel, connection.open else { return }
        let payload = BenchPayload.make(
            connection: connection.index, sequence: connection.nextSequence, time: monotonicNanoseconds(), size: size,
            allocator: channel.allocator)
        connection.awaitingReply = true
        connection.stats.sent += 1
        connection.send(text: payload)
    }

    func received(_ payload: ByteBuffer, on connection: BenchConnection) {
        let now = monotonicNanoseconds()
        // The reply must be exactly the message in flight: same connection, same sequence, same bytes.
        guard connection.awaitingReply, let fields = BenchPayload.parse(payload.readableBytesView, size: size),
            fields.connection == connection.index, fields.sequence == connection.nextSequence
        else {
            connection.stats.mismatches += 1
            return
        }
        connection.awaitingReply = false
        connection.nextSequence += 1
        connection.stats.received += 1
        let phase = phase.current
        if phase == BenchPhase.measuring {
            connection.stats.measured += 1
            connection.stats.record(nanoseconds: now &- fields.time)
        }
        if phase != BenchPhase.draining { sendNext(connection) }
    }
}

extension Bench {
    static func echoClosed(_ settings: BenchSettings) async throws -> BenchReport {
        let phase = BenchPhase(watching: settings.watch)
        let load = EchoClosedLoad(size: max(settings.payloadBytes, BenchPayload.headerBytes), phase: phase)
        return try await withClient(settings) { client in
            let (connections, failures) = await client.open(
                count: settings.connections, concurrency: settings.connectConcurrency, receiver: load)
            guard !connections.isEmpty else { throw BenchError("no connection to \(settings.target) could be opened") }
            await client.onEach(connections) { load.sendNext($0) }
            try await Task.sleep(for: settings.warmup)
            let start = phase.startMeasuring()
            try await Task.sleep(for: settings.duration)
            let end = phase.startDraining()
            let totals = try await client.waitFor(timeout: settings.drainTimeout) { $0.received + $0.mismatches >= $0.sent }
            await client.close(connections)
            let seconds = Double(end - start) / 1e9
            return BenchReport(
                mode: .echoClosed, target: settings.target.description, connections: connections.count,
                payloadBytes: load.size, seconds: seconds, throughput: Double(totals.measured) / seconds, offered: nil,
                latency: .init(totals.latency), sent: totals.sent, received: totals.received,
                lost: max(0, totals.sent - totals.received - totals.mismatches), mismatches: totals.mismatches,
                errors: totals.errors + failures).measuringCPU(phase)
        }
    }
}
