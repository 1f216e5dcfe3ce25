import FanoutCore
import Metrics

/// Traffic counted on one event loop and published to `EdgeCounters` (atomics and swift-metrics)
/// once a second, instead of an atomic add and a metrics call per frame from every loop.
struct TrafficTally {
    private var textIn = 0
    private var binaryIn = 0
    private var bytesIn = 0
    private var textOut = 0
    private var binaryOut = 0
    private var bytesOut = 0
    /// Every `latencySampling`-th delivered frame records its end-to-end latency.
    private var untilLatencySample = 0
    static let latencySampling = 16

    mutating func countIn(_ type: FrameType, bytes: Int) {
        if type == .text { textIn += 1 } else { binaryIn += 1 }
        bytesIn += bytes
    }

    mutating func countOut(_ type: FrameType, bytes: Int) {
        if type == .text { textOut += 1 } else { binaryOut += 1 }
        bytesOut += bytes
    }

    /// Records the end-to-end latency of one frame in `latencySampling` (wall clock on both ends:
    /// edge received → written here, possibly across edges).
    mutating func sampleLatency(origin: Int64, counters: EdgeCounters) {
        if untilLatencySample > 0 {
            untilLatencySample -= 1
            return
        }
        untilLatencySample = Self.latencySampling - 1
        counters.endToEndLatency.recordMicroseconds(max(0, WallClock.microseconds() - origin))
    }

    /// Adds everything counted since the last call to `counters`, then starts from zero.
    mutating func publish(to counters: EdgeCounters) {
        counters.add(textIn: textIn, binaryIn: binaryIn, bytesIn: bytesIn, textOut: textOut, binaryOut: binaryOut, bytesOut: bytesOut)
        self = TrafficTally()
    }
}
