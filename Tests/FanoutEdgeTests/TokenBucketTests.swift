@testable import FanoutEdge
import Testing

/// The per-connection rate limit as a pure state machine: time is passed in.
@Suite struct TokenBucketTests {
    let start = ContinuousClock.now

    @Test func aFullBucketAllowsExactlyTheBurstAtOnce() {
        var bucket = TokenBucket(rate: 10, burst: 5, now: start)
        let taken = (0..<8).map { _ in bucket.take(now: start) }
        #expect(taken == [true, true, true, true, true, false, false, false])
    }

    @Test func tokensComeBackAtTheRateAndNeverAboveTheBurst() {
        var bucket = TokenBucket(rate: 10, burst: 5, now: start)
        for _ in 0..<5 { _ = bucket.take(now: start) }
        let halfToken = bucket.take(now: start + .milliseconds(50))
        let oneToken = bucket.take(now: start + .milliseconds(100))  // 100 ms at 10/s
        let spent = bucket.take(now: start + .milliseconds(100))
        #expect([halfToken, oneToken, spent] == [false, true, false])
        // An hour of silence refills to the burst, not beyond it.
        let later = start + .seconds(3600)
        #expect((0..<7).map { _ in bucket.take(now: later) } == [true, true, true, true, true, false, false])
    }

    @Test func aClockThatGoesNowhereAddsNothing() {
        var bucket = TokenBucket(rate: 1000, burst: 1, now: start)
        let taken = [bucket.take(now: start), bucket.take(now: start), bucket.take(now: start - .seconds(1))]
        #expect(taken == [true, false, false])
    }
}
