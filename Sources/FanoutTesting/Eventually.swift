/// Waits until `condition` holds, checking every few milliseconds, for at most `timeout`.
/// Returns the final answer, so `#expect(try await eventually { … })` fails with a clear message.
///
/// For state that has no event to await (a counter in another process, a Redis value).
public func eventually(
    within timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// Runs `body` with a deadline; throws `TimedOut` when it takes longer.
public func withTimeout<Result: Sendable>(
    _ timeout: Duration, _ what: String = "operation", _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let result = try await group.next(), let value = result else { throw TimedOut(what: what, after: timeout) }
        return value
    }
}

/// A bounded wait in a test ran out.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public let after: Duration
    public var description: String { "\(what) did not happen within \(after)" }
}
