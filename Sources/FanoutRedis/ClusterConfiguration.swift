import Logging
import NIOCore

/// Where a Redis Cluster can be asked for its slot map: the `redis-cluster://` form of
/// `FANOUT_REDIS_URL`.
///
/// With this set, a `RedisConfiguration`'s `host` and `port` are not used: `RedisClient` and
/// `RedisSubscriber` ask the seeds (then any master they learned of) for `CLUSTER SLOTS`, keep one
/// connection per master, and route every command by its key's hash slot (decision 0040). The
/// seeds need not be masters, nor all be up: the first one that answers is enough.
public struct ClusterConfiguration: Sendable, Hashable {
    /// The seed nodes, asked in this order.
    public var seeds: [RedisAddress]

    public init(seeds: [RedisAddress]) {
        self.seeds = seeds
    }
}

/// One Redis node's address.
public struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` as Redis writes it in `MOVED`/`ASK` errors (an IPv6 host unbracketed:
    /// the port is after the last `:`).
    public init?(redirect text: Substring) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host, port: port)
    }

    /// `host:port`, with an IPv6 host in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension RedisConfiguration {
    /// This configuration aimed at one node directly (a cluster member, or a sentinel-named
    /// master): same credentials, timeouts and name, no discovery.
    func direct(to address: RedisAddress) -> RedisConfiguration {
        var direct = self
        direct.sentinel = nil
        direct.cluster = nil
        direct.host = address.host
        direct.port = address.port
        return direct
    }
}

extension RedisConnection {
    /// A plain connection to the first seed of a `redis-cluster://` configuration that answers:
    /// for one-off commands that need no routing (a tool's `PING`, a test server's readiness).
    /// Routed use goes through `RedisClient`, which keeps a connection per master.
    static func connectToSeed(configuration: RedisConfiguration, eventLoop: any EventLoop, logger: Logger) async throws(RedisError) -> RedisConnection {
        var lastError = RedisError(.notConnected, "a redis-cluster:// URL without seeds")
        for seed in configuration.cluster?.seeds ?? [] {
            do {
                return try await connect(configuration: configuration.direct(to: seed), eventLoop: eventLoop, logger: logger)
            } catch {
                if error.code == .authenticationFailed { throw error }
                lastError = error
            }
        }
        throw lastError
    }
}
