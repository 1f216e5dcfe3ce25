/// Every failure the Redis client reports.
///
/// The description names the command (never its arguments: they may carry payloads or
/// passwords) and, for server errors, Redis's own text.
public struct RedisError: Error, Sendable, Hashable {
    /// What went wrong, as a value callers can switch on.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case connectionRefused, connectFailed, permissionDenied, authenticationFailed, server, protocolError, timedOut
            case connectionClosed, notConnected, unexpectedReply, invalidURL, shutdown
            case noSentinel, unknownMaster, notMaster, notReplicated
        }
        let base: Base
        /// Nothing listens at the address: the server refused the TCP connection (`ECONNREFUSED`).
        public static let connectionRefused = Code(base: .connectionRefused)
        /// The TCP connection could not be made for another reason: the host name does not resolve,
        /// the network or host is unreachable, the connection was reset. The text carries the errno.
        public static let connectFailed = Code(base: .connectFailed)
        /// The operating system refused this process something it needs to connect (`EACCES` or
        /// `EPERM`: a socket option that needs a privilege, a firewall rule, a sandbox). Not a Redis
        /// problem: the text names the call that failed and its errno, so nobody goes looking for a
        /// dead server. Not retryable: trying again cannot grant the privilege.
        public static let permissionDenied = Code(base: .permissionDenied)
        /// AUTH was rejected (wrong password, unknown user) or the server demands a password.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// Redis answered with an error reply; `message` holds its text.
        public static let server = Code(base: .server)
        /// The bytes from the server were not valid RESP; the connection is discarded.
        public static let protocolError = Code(base: .protocolError)
        /// Connecting or waiting for a reply took longer than configured.
        public static let timedOut = Code(base: .timedOut)
        /// The connection closed while the command was in flight: it may or may not have run.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// No connection is established right now (the client is reconnecting).
        public static let notConnected = Code(base: .notConnected)
        /// The reply did not have the shape the command promises.
        public static let unexpectedReply = Code(base: .unexpectedReply)
        /// A `redis://` URL could not be parsed.
        public static let invalidURL = Code(base: .invalidURL)
        /// The client was shut down.
        public static let shutdown = Code(base: .shutdown)
        /// No sentinel of a `redis-sentinel://` URL answered (all down or unreachable).
        public static let noSentinel = Code(base: .noSentinel)
        /// The sentinels that answered monitor no master of that name (a wrong name in the URL,
        /// or sentinels not configured yet). Retried: sentinels can be configured while we wait.
        public static let unknownMaster = Code(base: .unknownMaster)
        /// The node reached is not (or no longer) the master: `ROLE` said replica, or a write was
        /// answered `READONLY`/`LOADING`/`MASTERDOWN` — a failover is under way.
        public static let notMaster = Code(base: .notMaster)
        /// `WAIT` did not confirm enough replicas in time: the command ran on the master but is not
        /// known to survive a failover (`FANOUT_REDIS_MIN_REPLICAS`).
        public static let notReplicated = Code(base: .notReplicated)
        public var description: String { base.rawValue }
    }

    public let code: Code
    /// A human-readable reason. For `.server`, Redis's error text (for example `WRONGTYPE …`).
    public let message: String
    /// The command name (such as `XADD`), when the error belongs to one command.
    public let command: String?

    public init(_ code: Code, _ message: String, command: String? = nil) {
        self.code = code
        self.message = message
        self.command = command
    }

    /// `true` when trying again later may succeed: the connection, not the request, failed.
    public var isRetryable: Bool {
        switch code.base {
        case .connectionRefused, .connectFailed, .timedOut, .connectionClosed, .notConnected, .protocolError: return true
        case .noSentinel, .unknownMaster, .notMaster, .notReplicated: return true
        default: return false
        }
    }

    /// The first word of a server error (`WRONGTYPE`, `BUSYGROUP`, `NOGROUP`, `ERR` …).
    public var serverErrorPrefix: String? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    /// `true` for the error replies of a node that cannot take writes because it is not (or not
    /// yet) the master: `READONLY` (a replica), `LOADING` (loading its data set after a restart),
    /// `MASTERDOWN` (a replica that lost its master).
    static func meansNotMaster(_ message: String) -> Bool {
        message.hasPrefix("READONLY") || message.hasPrefix("LOADING") || message.hasPrefix("MASTERDOWN")
    }

    func with(command: String) -> RedisError {
        RedisError(code, message, command: command)
    }
}

extension RedisError: CustomStringConvertible {
    public var description: String {
        if let command { return "Redis \(code) (\(command)): \(message)" }
        return "Redis \(code): \(message)"
    }
}
