import ArgumentParser
import FanoutBench
import Foundation

/// The options of `fanout bench echo-closed | echo-open | fanout | conns`. Each mode uses the ones
/// that apply to it (see BENCHMARKS.md); defaults are the bar's settings.
struct BenchLoadOptions: ParsableArguments {
    @Option(help: "Target WebSocket URL: an edge, a proxy, or `fanout bench ceiling`.")
    var url = "ws://127.0.0.1:8080/ws"

    @Option(name: [.customShort("c"), .long], help: "Connections (echo modes) or idle connections to open (conns).")
    var connections: Int?

    @Option(help: "Payload bytes per message (at least 40: sequence number and send time).")
    var payload = 64

    @Option(help: "Measured seconds, after the warm-up.")
    var duration = 10.0

    @Option(help: "Warm-up seconds, not counted.")
    var warmup = 2.0

    @Option(help: "Aggregate messages per second (echo-open: over all connections; fanout: over all publishers).")
    var rate: Int?

    @Option(help: "Fanout: members joining the room.")
    var members = 1_000

    @Option(help: "Fanout: members that also publish.")
    var publishers = 1

    @Option(help: "Fanout: the room's name.")
    var room = "bench"

    @Option(help: "Event-loop threads of the load generator.")
    var threads = 2

    @Option(help: "Seconds to wait for replies in flight before counting them lost.")
    var drainTimeout = 5.0

    @Option(help: "Handshakes in flight at once while connecting.")
    var connectConcurrency = 256

    @Option(help: "Conns: PID of the edge whose VmRSS is read before and after.")
    var edgePID: Int32?

    @Flag(help: "Conns: count a connection once upgraded, without waiting for an echo through the pipeline.")
    var noConfirm = false

    @Option(help: "Conns: seconds to hold the connections open after measuring.")
    var hold = 0.0

    @Option(help: "A process whose CPU time in the measurement window is reported per message, as NAME=PID (repeatable).")
    var watch: [String] = []

    @Option(help: "Churn: rounds of connections opened, echoed once and closed.")
    var rounds = 10

    @Option(help: "Churn: seconds from one round's start to the next (0: back to back).")
    var roundInterval = 0.0

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func settings(for mode: BenchMode) throws -> BenchSettings {
        guard let target = BenchTarget(url: url) else { throw ValidationError("--url must look like ws://host:port/path") }
        var settings = BenchSettings(target: target)
        settings.connections = connections ?? (mode == .conns ? 15_000 : mode == .churn ? 8_000 : mode == .echoOpen ? 100 : 50)
        settings.payloadBytes = payload
        settings.duration = .milliseconds(Int(duration * 1000))
        settings.warmup = .milliseconds(Int(warmup * 1000))
        settings.rate = rate ?? (mode == .fanout ? 100 : 10_000)
        settings.members = members
        settings.publishers = publishers
        settings.room = room
        settings.threads = threads
        settings.drainTimeout = .milliseconds(Int(drainTimeout * 1000))
        settings.connectConcurrency = connectConcurrency
        settings.edgePID = edgePID
        settings.confirm = !noConfirm
        settings.hold = .milliseconds(Int(hold * 1000))
        settings.rounds = rounds
        settings.roundInterval = .milliseconds(Int(roundInterval * 1000))
        for entry in watch {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let pid = Int32(parts[1]) else { throw ValidationError("--watch takes NAME=PID, got '\(entry)'") }
            settings.watch[String(parts[0])] = pid
        }
        return settings
    }

    /// Runs `mode` and prints the table or JSON; a failed run is one line on stderr and exit 1.
    func run(_ mode: BenchMode) async throws {
        let report: BenchReport
        do {
            report = try await Bench.run(mode, try settings(for: mode))
        } catch let error as ValidationError {
            throw error
        } catch {
            exitWithOneLine("bench \(mode.rawValue)", "\(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table)
        }
    }
}

/// `fanout bench echo-closed`.
struct EchoClosedBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-closed", abstract: "C connections send, wait for the identical bytes, repeat (default C=50, 64 bytes).")
    @OptionGroup var options: BenchLoadOptions
    func run() async throws { try await options.run(.echoClosed) }
}

/// `fanout bench echo-open`.
struct EchoOpenBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-open", abstract: "A fixed aggregate rate over C connections; latency from the intended send time (default 10,000/s, C=100).")
    @OptionGroup var options: BenchLoadOptions
    func run() async throws { try await options.run(.echoOpen) }
}

/// `fanout bench fanout`.
struct FanoutBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout", abstract: "M members join a room (chat protocol); P publish at rate R (default 1,000 members, 100/s).")
    @OptionGroup var options: BenchLoadOptions
    func run() async throws { try await options.run(.fanout) }
}

/// `fanout bench conns`.
struct ConnsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conns", abstract: "Open N idle connections: connect rate, failures, the edge's RSS per connection (default 15,000).")
    @OptionGroup var options: BenchLoadOptions
    func run() async throws { try await options.run(.conns) }
}

/// `fanout bench churn`.
struct ChurnBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "churn", abstract: "Rounds of N connections opened, echoed once and closed; the edge's RSS after each (default 10 × 8,000).")
    @OptionGroup var options: BenchLoadOptions
    func run() async throws { try await options.run(.churn) }
}
