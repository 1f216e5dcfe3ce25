public import FanoutCore
import Foundation
import NIOCore

/// Everything an edge process can be told; each field names its key (all keys: Docs/configuration.md).
public struct EdgeConfiguration: Sendable {
    /// Redis URL and key prefix (`FANOUT_REDIS_URL`, `FANOUT_KEY_PREFIX`).
    public var common: CommonConfiguration
    /// `FANOUT_HOST` — address to bind (default `127.0.0.1`; `0.0.0.0` in containers).
    public var host: String
    /// `FANOUT_PORT` — HTTP/WebSocket port (default 8080; 0 picks a free port).
    public var port: Int
    /// `FANOUT_EDGE_ID` — this edge's ID, the first part of its connection IDs (default: random).
    public var edgeID: EdgeID
    /// `FANOUT_MAX_MESSAGE_BYTES` — largest inbound message; larger ones close the connection with 1009 (default 1 MiB).
    public var maxMessageBytes: Int
    /// `FANOUT_OUTBOX_MESSAGES` — messages queued for one client before it counts as a slow consumer (default 1024).
    public var outboxMessages: Int
    /// `FANOUT_OUTBOX_BYTES` — bytes queued for one client before it counts as a slow consumer (default 4 MiB).
    public var outboxBytes: Int
    /// `FANOUT_MAX_STREAM_LENGTH` — XADD `MAXLEN ~` cap on the inbound stream: an emergency guard
    /// only (default 1,000,000). The workers trim what is processed; overload admission keeps the
    /// backlog far below the cap, and start-up refuses a high water that is not below it.
    public var maxStreamLength: Int
    /// `FANOUT_HEARTBEAT_MS` — how often the edge records that it is alive (default 1000).
    public var heartbeatInterval: Duration
    /// `FANOUT_HEARTBEAT_TIMEOUT_MS` — an edge silent this long is considered dead (default 10000).
    public var heartbeatTimeout: Duration
    /// `FANOUT_SHUTDOWN_TIMEOUT_MS` — how long a graceful shutdown waits for clients to receive what
    /// is queued for them and their 1001 close (default 10000).
    public var shutdownTimeout: Duration
    /// `FANOUT_UNAVAILABLE_POLICY` — what a client gets when its frame cannot be appended because Redis
    /// is unavailable: `error-frame` (default: an error frame, the connection stays open) or `close` (1013).
    public var unavailablePolicy: RefusalPolicy
    /// `FANOUT_OVERLOAD_POLICY` — what a client gets while the edge refuses new messages because the
    /// workers are behind: `error-frame` (default) or `close` (1013).
    public var overloadPolicy: RefusalPolicy
    /// `FANOUT_OVERLOAD_HIGH_WATER` — group lag (entries not yet delivered to any worker) at which the
    /// edge starts refusing inbound messages (default 100000).
    public var overloadHighWater: Int
    /// `FANOUT_OVERLOAD_LOW_WATER` — lag below which it accepts again (default 50000).
    public var overloadLowWater: Int
    /// `FANOUT_LAG_SAMPLE_MS` — how often the edge samples the group's lag (default 500).
    public var lagSampleInterval: Duration
    /// `FANOUT_SLOW_CONSUMER_GRACE_MS` — after a client's outbox overflowed, how long it has to read
    /// its 4008 close frame before the edge drops the TCP connection (default 5000).
    public var slowConsumerGrace: Duration
    /// `FANOUT_SOCKET_SEND_BUFFER` — SO_SNDBUF for client sockets in bytes; 0 (default) keeps the
    /// kernel's autotuning. A small value bounds the kernel memory a slow client can pin and makes
    /// slow consumers visible sooner.
    public var socketSendBuffer: Int
    /// `FANOUT_MAX_CONNECTIONS` — WebSocket connections this edge holds at most; more get HTTP 503
    /// on upgrade (default 10000; keep it under the process's open-file limit).
    public var maxConnections: Int
    /// `FANOUT_AGENT_PORT` — TCP port answering HAProxy's agent-check (`up ready N%` with a weight that
    /// falls as connections approach the limit, `drain` while shutting down, `down` while not
    /// ready); 0 (default) disables it.
    public var agentPort: Int
    /// `FANOUT_DRAIN_DELAY_MS` — on SIGTERM, how long the edge keeps serving its open connections
    /// while reporting not-ready/drain, so load balancers stop sending new clients first (default 0).
    public var drainDelay: Duration
    /// `FANOUT_AUTH` — `off` (default), `optional` or `required`: whether clients present a JWT
    /// (`Authorization: Bearer …` or `?token=…`); `sub` becomes the connection's user ID.
    public var authentication: AuthenticationMode
    /// `FANOUT_JWT_SECRET` — HS256 shared secret (never logged).
    public var jwtSecret: String?
    /// `FANOUT_JWT_PUBLIC_KEY_FILE` — PEM public key for ES256 (P-256) or RS256 tokens.
    public var jwtPublicKeyFile: String?
    /// `FANOUT_ALLOWED_ORIGINS` — comma-separated origins (`https://app.example.com`) whose pages may
    /// open WebSockets; an upgrade with any other `Origin` header gets HTTP 403. Empty (default): any
    /// origin. Requests without `Origin` (non-browser clients) are not affected.
    public var allowedOrigins: Set<String>
    /// `FANOUT_MAX_CONNECTIONS_PER_IP` — WebSocket connections one peer address may hold; more get
    /// HTTP 503 on upgrade. 0 (default) disables it. Behind a proxy every client shares the proxy's
    /// address: limit per client address at the proxy instead.
    public var maxConnectionsPerIP: Int
    /// `FANOUT_RATE_LIMIT` — messages per second one connection may send on average (token bucket);
    /// 0 disables it (default 1000).
    public var rateLimit: Double
    /// `FANOUT_RATE_BURST` — messages a connection may send at once above the rate (default 2000).
    public var rateBurst: Int
    /// `FANOUT_RATE_LIMIT_STRIKES` — refused messages in a row (each answered with a `rate_limited`
    /// error frame) after which the connection is closed with 1008 (default 10).
    public var rateLimitStrikes: Int
    /// `FANOUT_HANDSHAKE_TIMEOUT_MS` — how long a new TCP connection has to deliver its HTTP request
    /// head; then it is closed without an answer (default 10000).
    public var handshakeTimeout: Duration
    /// `FANOUT_PING_INTERVAL_MS` — the edge pings every WebSocket this often; a peer that has not
    /// answered the previous ping by the next one is closed with 1001 "Ping timeout" (default 30000).
    public var pingInterval: Duration
    /// `FANOUT_HTTP_IDLE_TIMEOUT_MS` — how long a plain HTTP keep-alive connection may stay idle
    /// between requests (default 60000).
    public var httpIdleTimeout: Duration
    /// `FANOUT_APPEND_LINGER_US` — how long the XADDs of client messages may wait for company
    /// before they are written to Redis, in microseconds (default 0: at the end of the event-loop
    /// tick). A few hundred let moderate traffic share writes and Redis wake-ups.
    public var appendLinger: Duration
    /// `FANOUT_LINGER_ADAPTIVE` — true (the default): the edge's and the worker's lingers apply only
    /// while they pay, found by measuring the arrival rate with and without them now and then (a
    /// load that waits on answers goes slower with a linger; decision 0046); false: always.
    public var lingerAdapts: Bool
    /// `FANOUT_APPEND_ONE_WRITE` — true (the default): the XADDs of client messages wait while the
    /// replies to the previous write to Redis are still due, and go out together when the last is
    /// in (at most one round trip added, no timer); false: every event-loop tick writes its own.
    /// The edge's other commands on that connection wait the same way. Decision 0045.
    public var appendOneWriteInFlight: Bool
    /// `FANOUT_EVENT_LOOPS` — event-loop threads of the edge (default: one per core). Each has its
    /// own Redis command and subscriber connections, and serves the connections NIO assigns it.
    public var eventLoops: Int

    public init(common: CommonConfiguration = CommonConfiguration()) {
        self.common = common
        self.host = "127.0.0.1"
        self.port = 8080
        self.edgeID = EdgeID.generate()
        self.maxMessageBytes = 1 << 20
        self.outboxMessages = 1024
        self.outboxBytes = 4 << 20
        self.maxStreamLength = 1_000_000
        self.heartbeatInterval = .seconds(1)
        self.heartbeatTimeout = .seconds(10)
        self.shutdownTimeout = .seconds(10)
        self.unavailablePolicy = .errorFrame
        self.overloadPolicy = .errorFrame
        self.overloadHighWater = 100_000
        self.overloadLowWater = 50_000
        self.lagSampleInterval = .milliseconds(500)
        self.slowConsumerGrace = .seconds(5)
        self.socketSendBuffer = 0
        self.maxConnections = 10_000
        self.agentPort = 0
        self.drainDelay = .zero
        self.authentication = .off
        self.allowedOrigins = []
        self.maxConnectionsPerIP = 0
        self.rateLimit = 1000
        self.rateBurst = 2000
        self.rateLimitStrikes = 10
        self.handshakeTimeout = .seconds(10)
        self.pingInterval = .seconds(30)
        self.httpIdleTimeout = .seconds(60)
        self.eventLoops = System.coreCount
        self.appendLinger = .zero
        self.lingerAdapts = true
        self.appendOneWriteInFlight = true
    }

    public init(reader: ConfigurationReader) throws(ConfigurationError) {
        self.init(common: try CommonConfiguration(reader: reader))
        host = reader.string("FANOUT_HOST", default: host)
        port = try reader.int("FANOUT_PORT", default: port, range: 0...65535)
        if let raw = reader.string("FANOUT_EDGE_ID") {
            guard let id = EdgeID(raw) else { throw ConfigurationError("FANOUT_EDGE_ID: 1-64 of [A-Za-z0-9_-], got '\(raw)'") }
            edgeID = id
        }
        maxMessageBytes = try reader.int("FANOUT_MAX_MESSAGE_BYTES", default: maxMessageBytes, range: 1...(64 << 20))
        outboxMessages = try reader.int("FANOUT_OUTBOX_MESSAGES", default: outboxMessages, range: 1...1_000_000)
        outboxBytes = try reader.int("FANOUT_OUTBOX_BYTES", default: outboxBytes, range: 1024...(1 << 30))
        maxStreamLength = try reader.int("FANOUT_MAX_STREAM_LENGTH", default: maxStreamLength, range: 1000...Int.max)
        heartbeatTimeout = try reader.milliseconds("FANOUT_HEARTBEAT_TIMEOUT_MS", default: heartbeatTimeout)
        shutdownTimeout = try reader.milliseconds("FANOUT_SHUTDOWN_TIMEOUT_MS", default: shutdownTimeout)
        unavailablePolicy = try RefusalPolicy(reader.string("FANOUT_UNAVAILABLE_POLICY"), key: "FANOUT_UNAVAILABLE_POLICY") ?? unavailablePolicy
        overloadPolicy = try RefusalPolicy(reader.string("FANOUT_OVERLOAD_POLICY"), key: "FANOUT_OVERLOAD_POLICY") ?? overloadPolicy
        overloadHighWater = try reader.int("FANOUT_OVERLOAD_HIGH_WATER", default: overloadHighWater, range: 1...Int.max)
        overloadLowWater = try reader.int("FANOUT_OVERLOAD_LOW_WATER", default: min(overloadLowWater, overloadHighWater), range: 0...overloadHighWater)
        lagSampleInterval = try reader.milliseconds("FANOUT_LAG_SAMPLE_MS", default: lagSampleInterval, minimum: 10)
        slowConsumerGrace = try reader.milliseconds("FANOUT_SLOW_CONSUMER_GRACE_MS", default: slowConsumerGrace)
        socketSendBuffer = try reader.int("FANOUT_SOCKET_SEND_BUFFER", default: socketSendBuffer, range: 0...(64 << 20))
        maxConnections = try reader.int("FANOUT_MAX_CONNECTIONS", default: maxConnections, range: 1...10_000_000)
        agentPort = try reader.int("FANOUT_AGENT_PORT", default: agentPort, range: 0...65535)
        drainDelay = try reader.milliseconds("FANOUT_DRAIN_DELAY_MS", default: drainDelay, minimum: 0)
        if let raw = reader.string("FANOUT_AUTH") {
            guard let mode = AuthenticationMode(rawValue: raw) else {
                throw ConfigurationError("FANOUT_AUTH: expected off, optional or required, got '\(raw)'")
            }
            authentication = mode
        }
        jwtSecret = reader.string("FANOUT_JWT_SECRET")
        jwtPublicKeyFile = reader.string("FANOUT_JWT_PUBLIC_KEY_FILE")
        heartbeatInterval = try reader.milliseconds("FANOUT_HEARTBEAT_MS", default: heartbeatInterval, minimum: 10)
        if let raw = reader.string("FANOUT_ALLOWED_ORIGINS") {
            allowedOrigins = Set(raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        maxConnectionsPerIP = try reader.int("FANOUT_MAX_CONNECTIONS_PER_IP", default: maxConnectionsPerIP, range: 0...10_000_000)
        rateLimit = Double(try reader.int("FANOUT_RATE_LIMIT", default: Int(rateLimit), range: 0...10_000_000))
        rateBurst = try reader.int("FANOUT_RATE_BURST", default: rateBurst, range: 1...10_000_000)
        rateLimitStrikes = try reader.int("FANOUT_RATE_LIMIT_STRIKES", default: rateLimitStrikes, range: 1...1_000_000)
        handshakeTimeout = try reader.milliseconds("FANOUT_HANDSHAKE_TIMEOUT_MS", default: handshakeTimeout, minimum: 10)
        pingInterval = try reader.milliseconds("FANOUT_PING_INTERVAL_MS", default: pingInterval, minimum: 10)
        httpIdleTimeout = try reader.milliseconds("FANOUT_HTTP_IDLE_TIMEOUT_MS", default: httpIdleTimeout, minimum: 10)
        eventLoops = try reader.int("FANOUT_EVENT_LOOPS", default: eventLoops, range: 1...256)
        appendLinger = .microseconds(try reader.int("FANOUT_APPEND_LINGER_US", default: 0, range: 0...100_000))
        lingerAdapts = try reader.bool("FANOUT_LINGER_ADAPTIVE", default: true)
        appendOneWriteInFlight = try reader.bool("FANOUT_APPEND_ONE_WRITE", default: true)
        try checkStreamCap()
    }

    /// Refuses a cap the backlog could reach before the edge refuses: `MAXLEN ~` would then trim
    /// entries no worker has processed. The cap is an emergency guard; admission is the limit.
    public func checkStreamCap() throws(ConfigurationError) {
        guard overloadHighWater < maxStreamLength else {
            throw ConfigurationError(
                "FANOUT_OVERLOAD_HIGH_WATER (\(overloadHighWater)) must be below FANOUT_MAX_STREAM_LENGTH (\(maxStreamLength)), "
                    + "far below: the cap would trim unprocessed entries before the edge refuses with overloaded")
        }
    }
}

/// How an edge answers a client whose message it cannot accept right now.
public enum RefusalPolicy: String, Sendable {
    /// Send a text frame `{"type":"error","error":"<reason>","retry":true,"seq":<n>}` (`n`: the refused
    /// message's 1-based number on its connection); the connection stays open.
    case errorFrame = "error-frame"
    /// Close the connection with 1013 "try again later".
    case close

    init?(_ raw: String?, key: String) throws(ConfigurationError) {
        guard let raw else { return nil }
        guard let policy = RefusalPolicy(rawValue: raw) else { throw ConfigurationError("\(key): expected error-frame or close, got '\(raw)'") }
        self = policy
    }
}
