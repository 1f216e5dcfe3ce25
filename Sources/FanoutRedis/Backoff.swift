/// Exponential backoff with full jitter, bounded: attempt n waits a random time in
/// `[0, min(maximum, initial · 2ⁿ)]`, and never less than `minimum`.
///
/// Full jitter spreads the reconnects of many edges and workers after a Redis restart, so they
/// do not all arrive in the same millisecond.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var minimum: Duration

    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2), minimum: Duration = .milliseconds(10)) {
        self.initial = initial
        self.maximum = maximum
        self.minimum = minimum
    }

    /// The upper bound of the delay before attempt `attempt` (0-based).
    public func ceiling(attempt: Int) -> Duration {
        let factor = 1 << min(max(attempt, 0), 20)
        let grown = initial * factor
        return grown > maximum ? maximum : grown
    }

    /// A random delay for attempt `attempt` (0-based).
    public func delay<Generator: RandomNumberGenerator>(attempt: Int, using generator: inout Generator) -> Duration {
        let ceiling = ceiling(attempt: attempt)
        let nanos = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        let jittered = Duration.nanoseconds(Int64.random(in: 0...max(nanos, 0), using: &generator))
        return jittered < minimum ? minimum : jittered
    }

    /// A random delay for attempt `attempt`, from the system generator.
    public func delay(attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}
