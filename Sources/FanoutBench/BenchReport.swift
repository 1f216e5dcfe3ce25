import Foundation
import Histogram

/// The result of one bench run: a table for people (``table``), JSON for scripts (Codable).
public struct BenchReport: Sendable, Codable {
    public var mode: BenchMode
    public var target: String
    public var connections: Int
    public var payloadBytes: Int
    /// The measured window in seconds (conns: the time to open every connection).
    public var seconds: Double
    /// Echo: replies per second; fanout: deliveries per second; conns: connections per second.
    public var throughput: Double
    /// Echo-open, fanout: the offered rate (messages per second; fanout: deliveries per second).
    public var offered: Double?
    public var latency: Latency
    /// Messages sent (fanout: deliveries expected = messages × members; conns: attempts).
    public var sent: Int
    /// Replies or deliveries received (conns: connections opened).
    public var received: Int
    /// Sent but never received within the drain timeout (conns: failed connections).
    public var lost: Int
    public var mismatches: Int
    public var errors: Int
    /// Conns: the edge's VmRSS before and after, in KiB, and per connection in bytes.
    public var rssBaselineKiB: Int?
    public var rssLoadedKiB: Int?
    public var rssPerConnectionBytes: Double?
    /// CPU seconds each watched process used inside the window, and the same per message (µs).
    public var cpuSeconds: [String: Double]?
    public var cpuMicrosecondsPerMessage: [String: Double]?
    /// The same for the load generator itself (this process, all its threads): it shares the
    /// cores with the processes it measures, so a run's throughput is bounded by the CPU that
    /// all of them spend per message together.
    public var clientCPUMicrosecondsPerMessage: Double?
    /// Churn: the edge's VmRSS in KiB after each round.
    public var rssAfterRoundKiB: [Int]?

    /// Percentiles in milliseconds.
    public struct Latency: Sendable, Codable {
        public var count: UInt64
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        init(_ histogram: Histogram<UInt64>) {
            func ms(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000_000 }
            count = histogram.totalCount
            p50 = ms(histogram.valueAtPercentile(50))
            p90 = ms(histogram.valueAtPercentile(90))
            p99 = ms(histogram.valueAtPercentile(99))
            p999 = ms(histogram.valueAtPercentile(99.9))
            max = ms(histogram.max)
        }
    }

    /// This report with the CPU time of the watched processes in `phase`'s window, also per
    /// message (per delivery for fanout, per connection for conns).
    func measuringCPU(_ phase: BenchPhase) -> BenchReport {
        let cpu = phase.cpuSecondsInWindow
        var report = self
        let messages = throughput * seconds
        if let client = phase.clientCPUSecondsInWindow, messages > 0 {
            report.clientCPUMicrosecondsPerMessage = client / messages * 1e6
        }
        guard !cpu.isEmpty else { return report }
        report.cpuSeconds = cpu
        report.cpuMicrosecondsPerMessage = messages > 0 ? cpu.mapValues { $0 / messages * 1e6 } : nil
        return report
    }

    /// The name of the throughput unit for this mode.
    public var unit: String {
        switch mode {
        case .echoClosed, .echoOpen: "msgs/s"
        case .fanout: "deliveries/s"
        case .conns, .churn: "conns/s"
        }
    }

    /// One header line for ``row``.
    public static let header = [
        "mode", "target", "conns", "rate", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "sent", "recv", "lost", "mism", "err", "extra",
    ]

    /// This run as table cells, in the order of ``header``.
    public var row: [String] {
        var extra = offered.map { "offered \(Self.format($0))/s" } ?? ""
        if let perConnection = rssPerConnectionBytes {
            extra = String(format: "RSS %.2f KiB/conn (%d→%d KiB)", perConnection / 1024, rssBaselineKiB ?? 0, rssLoadedKiB ?? 0)
        }
        if let rounds = rssAfterRoundKiB {
            extra = "RSS KiB after each round: " + rounds.map(String.init).joined(separator: " ")
        }
        let processes = (cpuMicrosecondsPerMessage ?? [:]).sorted { $0.key < $1.key }
        let cpu = processes + (clientCPUMicrosecondsPerMessage.map { [(key: "client", value: $0)] } ?? [])
        if !cpu.isEmpty {
            extra += (extra.isEmpty ? "" : "; ") + "CPU µs/msg " + cpu.map { "\($0.key) \(String(format: "%.1f", $0.value))" }.joined(separator: ", ")
        }
        return [
            mode.rawValue, target, String(connections), "\(Self.format(throughput)) \(unit)",
            Self.ms(latency.p50), Self.ms(latency.p90), Self.ms(latency.p99), Self.ms(latency.p999), Self.ms(latency.max),
            String(sent), String(received), String(lost), String(mismatches), String(errors), extra,
        ]
    }

    /// A two-line table (header and this run).
    public var table: String { Self.table([self]) }

    /// Aligned columns for several runs.
    public static func table(_ reports: [BenchReport], labels: [String]? = nil) -> String {
        var rows = [(labels == nil ? [] : ["run"]) + header]
        for (index, report) in reports.enumerated() {
            rows.append((labels.map { [$0[index]] } ?? []) + report.row)
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in cell.padding(toLength: widths[column], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func format(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        var digits = String(rounded)
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: digits.index(digits.startIndex, offsetBy: index))
            index -= 3
        }
        return digits
    }

    static func ms(_ value: Double) -> String { String(format: "%.3f", value) }
}
