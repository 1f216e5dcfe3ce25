/// `fanout bench`'s load generator, callable in-process (tests) and from the CLI.
public enum Bench {
    /// Runs one mode against `settings.target` and returns what it measured.
    public static func run(_ mode: BenchMode, _ settings: BenchSettings) async throws -> BenchReport {
        switch mode {
        case .echoClosed: try await echoClosed(settings)
        case .echoOpen: try await echoOpen(settings)
        case .fanout: try await fanout(settings)
        case .conns: try await conns(settings)
        case .churn: try await churn(settings)
        }
    }

    /// Runs `body` with a client whose event loops are shut down afterwards on every path.
    static func withClient<Result: Sendable>(
        _ settings: BenchSettings, _ body: (BenchClient) async throws -> Result
    ) async throws -> Result {
        let client = BenchClient(target: settings.target, threads: settings.threads)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }
}
