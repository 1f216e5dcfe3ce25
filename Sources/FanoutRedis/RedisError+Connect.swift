import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension RedisError {
    /// Classifies why a TCP connect to `address` failed, by the errno underneath NIO's error.
    ///
    /// "Connection refused" sends an operator looking for a dead Redis, so it is reported only when
    /// the server really refused (`ECONNREFUSED`). A privilege the process lacks (`EACCES`/`EPERM`,
    /// for example a socket option that needs `CAP_NET_ADMIN`) is `.permissionDenied`, naming the
    /// call that failed; anything else is `.connectFailed` with its errno.
    static func connecting(to address: String, failure: any Error, connectTimeout: Duration) -> RedisError {
        if case ChannelError.connectTimeout = failure {
            return RedisError(.timedOut, "connecting to \(address) timed out after \(connectTimeout)")
        }
        // NIO's happy-eyeballs connect wraps one failure per address it tried, plus DNS errors.
        var causes: [any Error] = [failure]
        if let attempts = failure as? NIOConnectionError {
            causes = attempts.connectionErrors.map(\.error) + [attempts.dnsAError, attempts.dnsAAAAError].compactMap { $0 }
            if causes.isEmpty { causes = [failure] }
        }
        let ioErrors = causes.compactMap { $0 as? IOError }
        if let denied = ioErrors.first(where: { $0.errnoCode == EACCES || $0.errnoCode == EPERM }) {
            return RedisError(
                .permissionDenied,
                "cannot connect to \(address): the operating system denied a call this process needs, "
                    + "which is not a Redis problem: \(denied.description)")
        }
        if let refused = ioErrors.first(where: { $0.errnoCode == ECONNREFUSED }) {
            return RedisError(.connectionRefused, "cannot connect to \(address): nothing listens there (\(refused.description))")
        }
        if causes.contains(where: { if case ChannelError.connectTimeout = $0 { true } else { false } }) {
            return RedisError(.timedOut, "connecting to \(address) timed out after \(connectTimeout)")
        }
        let reasons = causes.map { String(describing: $0) }.joined(separator: "; ")
        return RedisError(.connectFailed, "cannot connect to \(address): \(reasons)")
    }
}
