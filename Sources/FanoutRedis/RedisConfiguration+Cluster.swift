import Foundation

extension RedisConfiguration {
    static let clusterScheme = "redis-cluster://"

    /// Parses `redis-cluster://[[user]:password@]HOST[:PORT][,HOST[:PORT]…][/]`: seed nodes of a
    /// Redis Cluster (port 6379 when omitted). User and password are the nodes' (percent-encoded
    /// like `redis://`). A cluster has only database 0, so no database can be named.
    mutating func parseClusterURL(_ url: String) throws(RedisError) {
        var rest = Substring(url.dropFirst(Self.clusterScheme.count))
        takeUserInfo(from: &rest)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("?") else {
            throw RedisError(.invalidURL, "a redis-cluster:// URL names seed nodes only (a cluster has no database to select): \(Self.redact(url))")
        }
        var seeds: [RedisAddress] = []
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            let node = try Self.sentinelNode(part, url, defaultPort: 6379)
            seeds.append(RedisAddress(host: node.host, port: node.port))
        }
        database = 0
        cluster = ClusterConfiguration(seeds: seeds)
    }

    /// The `redis-cluster://` URL with any password replaced by `***`.
    var redactedClusterURL: String? {
        guard let cluster else { return nil }
        var auth = ""
        if let username { auth = password == nil ? "\(username)@" : "\(username):***@" } else if password != nil { auth = ":***@" }
        return "\(Self.clusterScheme)\(auth)\(cluster.seeds.map(\.description).joined(separator: ","))"
    }
}
