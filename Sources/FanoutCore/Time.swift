#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time in microseconds since 1970, as carried in envelopes (`at`, `origin`).
///
/// Wall clock, not monotonic: the value crosses processes (edge → worker → edge) on one host
/// or on hosts kept in sync by NTP.
public enum WallClock {
    public static func microseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}
