import NIOCore

/// `conns`: opens idle connections as fast as `connectConcurrency` handshakes in flight allow. With
/// `confirm`, each connection sends one echo message and counts as connected only when it comes
/// back: through the pipeline that proves the edge's SUBSCRIBE for it is done. Latency is per
/// connection, from the start of its TCP connect to that point.
final class ConnsLoad: BenchReceiver {
    let size = BenchPayload.headerBytes

    /// Sends the confirmation message. On the connection's loop.
    func confirm(_ connection: BenchConnection) {
        guard let channel = connection.channel, connection.open else {
            connection.confirmed?.fail(BenchError("closed before confirming"))
            return
        }
        connection.stats.sent += 1
        connection.send(text: BenchPayload.make(connection: connection.index, sequence: 0, time: connection.startedAt, size: size, allocator: channel.allocator))
    }

    /// Sends the confirmation message and returns once its echo came back (at most 10 s).
    func confirmed(_ connection: BenchConnection) async throws {
        try await connection.eventLoop.flatSubmit {
            let promise = connection.eventLoop.makePromise(of: Void.self)
            connection.confirmed = promise
            self.confirm(connection)
            let timer = connection.eventLoop.scheduleTask(in: .seconds(10)) { promise.fail(BenchError("no confirmation echo")) }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            return promise.futureResult
        }.get()
    }

    func received(_ payload: ByteBuffer, on connection: BenchConnection) {
        guard !connection.ready, let fields = BenchPayload.parse(payload.readableBytesView, size: size),
            fields.connection == connection.index, fields.sequence == 0
        else {
            connection.stats.mismatches += 1
            return
        }
        connection.ready = true
        connection.stats.received += 1
        connection.stats.ready += 1
        connection.stats.record(nanoseconds: monotonicNanoseconds() &- connection.startedAt)
        connection.confirmed?.succeed()
    }
}

extension Bench {
    static func conns(_ settings: BenchSettings) async throws -> BenchReport {
        let limit = ProcessResources.raiseOpenFileLimit()
        // Each connection is one descriptor; keep a margin for the process's own files.
        guard settings.connections + 256 <= limit else {
            throw BenchError(
                "\(settings.connections) connections need more open files than this process may have (\(limit)); run several `fanout bench conns` processes (see BENCHMARKS.md)")
        }
        let load = ConnsLoad()
        let confirm = settings.confirm
        return try await withClient(settings) { client in
            let baseline = settings.edgePID.flatMap(ProcessResources.residentKiB(pid:))
            let start = ContinuousClock.now
            let (connections, failures) = await client.open(
                count: settings.connections, concurrency: settings.connectConcurrency, receiver: load
            ) { connection in
                guard confirm else { return }
                try await load.confirmed(connection)
            }
            let elapsed = ContinuousClock.now - start
            let loaded = settings.edgePID.flatMap(ProcessResources.residentKiB(pid:))
            if settings.hold > .zero { try await Task.sleep(for: settings.hold) }
            let totals = try await client.snapshot()
            await client.close(connections)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            var report = BenchReport(
                mode: .conns, target: settings.target.description, connections: connections.count,
                payloadBytes: confirm ? load.size : 0, seconds: seconds, throughput: Double(connections.count) / seconds,
                offered: nil, latency: .init(totals.latency), sent: settings.connections, received: connections.count,
                lost: failures, mismatches: totals.mismatches, errors: totals.errors + failures)
            if let baseline, let loaded, !connections.isEmpty {
                report.rssBaselineKiB = baseline
                report.rssLoadedKiB = loaded
                report.rssPerConnectionBytes = Double(loaded - baseline) * 1024 / Double(connections.count)
            }
            return report
        }
    }
}
