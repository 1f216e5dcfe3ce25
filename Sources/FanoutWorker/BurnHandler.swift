public import FanoutCore
import Foundation

/// Burns a fixed amount of CPU per message (default 200 µs of this thread's CPU time), then echoes
/// it: a stand-in for real handler work, so worker scaling can be measured (`fanout worker
/// --handler burn`; BENCHMARKS.md). It spins on the thread's CPU clock rather than sleeping or
/// reading the wall clock, so being preempted does not shorten the work.
public struct BurnHandler: MessageHandler {
    /// CPU time burned per message.
    public let cpuTime: Duration

    public init(cpuTime: Duration = .microseconds(200)) {
        self.cpuTime = cpuTime
    }

    public func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message else { return }
        Self.burn(nanoseconds: UInt64(cpuTime.components.seconds) * 1_000_000_000 + UInt64(cpuTime.components.attoseconds / 1_000_000_000))
        context.reply(message.frameType, message.payload)
    }

    /// Spins until this thread has used `nanoseconds` more CPU time.
    static func burn(nanoseconds: UInt64) {
        let start = threadCPUNanoseconds()
        var spins: UInt64 = 0
        while threadCPUNanoseconds() &- start < nanoseconds {
            spins &+= 1
        }
        _ = spins
    }

    private static func threadCPUNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
