import Foundation

/// Where and how to reach Redis: parsed from a `redis://[user:password@]host:port[/db]` URL, a
/// `redis-sentinel://[user:password@]host:port[,host:port…]/MASTER_NAME[?db=N]` URL, or a
/// `redis-cluster://[user:password@]host:port[,host:port…]` URL, plus timeouts.
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
    /// Whether `writeCoalescing` applies only while it pays: a `LingerGovernor` lingers while the
    /// rate of commands does not fall for it (an open load), not when it does (clients waiting on
    /// answers), measured both ways now and then (decision 0046). `false`: always.
    public var coalescingAdapts = false
    /// Whether a tick's commands wait while the replies to the previous write are still due, and go
    /// out together when its last reply arrives: at most one write in flight. A busy producer (an
    /// edge's XADDs) then shares writes and Redis wake-ups with no timer and no delay when idle; a
    /// command waits at most one round trip, for replies it would have queued behind in Redis anyway.
    /// Never behind a blocking command (a blocking read, WAIT) — known by its `blockingTime`, so a
    /// blocking command built by hand must set it, as it must for its deadline anyway. Applies to
    /// every command of the client (and every node connection of a cluster client).
    public var oneWriteInFlight = false
    /// Set by a `redis-sentinel://` URL: the master's address comes from these sentinels, and
    /// `host`/`port` are not used.
    public var sentinel: SentinelConfiguration?
    /// Set by a `redis-cluster://` URL: the seeds to learn the slot map from; `host`/`port` are
    /// not used, and every command goes to the master that owns its key's slot.
    public var cluster: ClusterConfiguration?
    /// `FANOUT_REDIS_MIN_REPLICAS`: commands enqueued with `replicated: true` count as done only
    /// after `WAIT minReplicas` confirms that many replicas have them (one WAIT per write batch).
    /// 0 (the default) sends no WAIT.
    public var minReplicas: Int = 0
    /// `FANOUT_REDIS_MIN_REPLICAS_TIMEOUT_MS`: how long that WAIT may take before the batch's
    /// commands are failed as not replicated.
    public var minReplicasTimeout: Duration = .seconds(1)

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

    /// Parses `redis://[[user]:password@]host[:port][/db]`, or the `redis-sentinel://` form
    /// (`parseSentinelURL`). User and password may be percent-encoded.
    public init(url: String) throws(RedisError) {
        self.init()
        if url.hasPrefix(Self.sentinelScheme) {
            try parseSentinelURL(url)
            return
        }
        if url.hasPrefix(Self.clusterScheme) {
            try parseClusterURL(url)
            return
        }
        let prefix = "redis://"
        guard url.hasPrefix(prefix) else {
            throw RedisError(.invalidURL, "expected a URL starting with redis://, redis-sentinel:// or redis-cluster://, got \(Self.redact(url))")
        }
        var rest = Substring(url.dropFirst(prefix.count))
        takeUserInfo(from: &rest)
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
        if let sentinelURL = redactedSentinelURL { return sentinelURL }
        if let clusterURL = redactedClusterURL { return clusterURL }
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

extension RedisConfiguration {
    /// Takes `[[user]:password@]` off the front of `rest` (the part after the scheme) into
    /// `username` and `password`, percent-decoded; the same for `redis://`, `redis-sentinel://` and
    /// `redis-cluster://`. A lone user-info part is the password (`redis://secret@host`, the
    /// historical form); an empty user means none.
    mutating func takeUserInfo(from rest: inout Substring) {
        guard let at = rest.lastIndex(of: "@") else { return }
        let userInfo = rest[..<at]
        rest = rest[rest.index(after: at)...]
        if let colon = userInfo.firstIndex(of: ":") {
            let user = String(userInfo[..<colon]).removingPercentEncoding ?? ""
            username = user.isEmpty ? nil : user
            password = String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding
        } else {
            password = String(userInfo).removingPercentEncoding
        }
    }
}
