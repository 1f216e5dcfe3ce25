import Foundation

/// Where and how to reach Redis: parsed from a `redis://[user:password@]host:port[/db]` URL plus timeouts.
///
/// The password is kept only to send AUTH; `description` and `redactedURL` replace it with `***`.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// ACL user name (Redis 6+); `nil` authenticates the `default` user with `password` alone.
    public var username: String?
    /// Sent with AUTH after connecting; never logged.
    public var password: String?
    /// Database selected with SELECT after connecting.
    public var database: Int
    /// How long a TCP connect may take before `timedOut`.
    public var connectTimeout: Duration
    /// How long a reply may take (beyond a blocking command's own block time) before `timedOut`.
    public var commandTimeout: Duration
    /// How often an idle connection is checked with PING, so a dead peer is noticed.
    public var healthCheckInterval: Duration
    /// Reconnect delays: exponential with full jitter, between these bounds.
    public var reconnectBackoff: Backoff
    /// Sent as CLIENT SETNAME so operators can tell connections apart in `CLIENT LIST`.
    public var clientName: String?
    /// How long commands may wait for company before they are written: zero (the default) writes
    /// what one event-loop tick enqueued at the end of that tick; a few hundred microseconds let a
    /// busy producer (an edge's XADDs) share writes, reads and Redis wake-ups at moderate rates.
    public var writeCoalescing: Duration = .zero

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5),
        healthCheckInterval: Duration = .seconds(2),
        reconnectBackoff: Backoff = Backoff(),
        clientName: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.healthCheckInterval = healthCheckInterval
        self.reconnectBackoff = reconnectBackoff
        self.clientName = clientName
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`. User and password may be percent-encoded.
    public init(url: String) throws(RedisError) {
        self.init()
        let prefix = "redis://"
        guard url.hasPrefix(prefix) else {
            throw RedisError(.invalidURL, "expected a URL starting with redis://, got \(Self.redact(url))")
        }
        var rest = Substring(url.dropFirst(prefix.count))
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = String(userInfo[..<colon]).removingPercentEncoding ?? ""
                username = user.isEmpty ? nil : user
                password = String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding
            } else {
                // `redis://secret@host` is the historical form: a lone user-info part is the password.
                password = String(userInfo).removingPercentEncoding
            }
        }
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let number = Int(db), number >= 0 else {
                    throw RedisError(.invalidURL, "database must be a non-negative integer in \(Self.redact(url))")
                }
                database = number
            }
        }
        if rest.hasPrefix("[") {  // [::1]:6379
            guard let close = rest.firstIndex(of: "]") else { throw RedisError(.invalidURL, "unclosed [ in \(Self.redact(url))") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") { rest = rest.dropFirst() } else { rest = "" }
            if !rest.isEmpty { port = try Self.port(rest, url) }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            port = try Self.port(rest[rest.index(after: colon)...], url)
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "missing host in \(Self.redact(url))") }
    }

    private static func port(_ text: Substring, _ url: String) throws(RedisError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw RedisError(.invalidURL, "port must be 1-65535 in \(redact(url))")
        }
        return port
    }

    /// The URL with any password replaced by `***`, safe to log.
    public var redactedURL: String {
        var auth = ""
        if let username { auth = password == nil ? "\(username)@" : "\(username):***@" } else if password != nil { auth = ":***@" }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "redis://\(auth)\(hostPart):\(port)/\(database)"
    }

    /// Replaces the user-info part of a URL string with `***` (for error messages about unparsable URLs).
    ///
    /// Everything before the last `@` goes, scheme aside: the URL being reported is malformed, so
    /// it may lack `://` (`redis:/user:secret@host`) or have `://` inside the password, and
    /// neither may let any of the password through.
    static func redact(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@") else { return url }
        let scheme = url.prefixMatch(of: /[A-Za-z][A-Za-z0-9+.\-]*:\/\//).map { String($0.output) } ?? ""
        return scheme + "***" + url[at...]
    }
}

extension RedisConfiguration: CustomStringConvertible {
    public var description: String { redactedURL }
}
