/// Where the Redis Sentinels are and which master they watch: the `redis-sentinel://` form of
/// `FANOUT_REDIS_URL`.
///
/// With this set, a `RedisConfiguration`'s `host` and `port` are not used: every connection asks
/// the sentinels for the master's address first (`SentinelResolver`), and again after a failover.
public struct SentinelConfiguration: Sendable, Hashable {
    /// One sentinel's address.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int = 26379) {
            self.host = host
            self.port = port
        }

        /// `host:port`, with an IPv6 host in brackets.
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The sentinels, asked in this order; one that does not answer is skipped.
    public var nodes: [Node]
    /// The name the sentinels monitor the master under (`sentinel monitor NAME …`).
    public var masterName: String
    /// `FANOUT_REDIS_SENTINEL_PASSWORD`: sent with AUTH to sentinels that require one (`requirepass`
    /// in sentinel.conf). Never logged. The URL's own password is the data nodes'.
    public var password: String?

    public init(nodes: [Node], masterName: String, password: String? = nil) {
        self.nodes = nodes
        self.masterName = masterName
        self.password = password
    }
}
