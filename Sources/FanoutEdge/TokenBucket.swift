/// The per-connection rate limit: `rate` messages per second on average, `burst` at once.
///
/// A value owned by one connection's reader task, so it needs no lock; time is passed in, which
/// keeps it a pure state machine for tests.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(rate: Double, burst: Int, now: ContinuousClock.Instant) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
        self.last = now
    }

    /// Takes one token if there is one; `false` means the message exceeds the limit.
    mutating func take(now: ContinuousClock.Instant) -> Bool {
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        tokens = min(burst, tokens + max(0, seconds) * rate)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
