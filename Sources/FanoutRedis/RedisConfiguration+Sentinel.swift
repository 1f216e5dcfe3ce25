import Foundation

extension RedisConfiguration {
    static let sentinelScheme = "redis-sentinel://"

    /// Parses `redis-sentinel://[[user]:password@]HOST[:PORT][,HOST[:PORT]…]/MASTER_NAME[?db=N]`:
    /// the sentinels (port 26379 when omitted), then the name they monitor the master under. The
    /// user and password are the data nodes' (percent-encoded like `redis://`); a sentinel's own
    /// password comes from `FANOUT_REDIS_SENTINEL_PASSWORD`, never from the URL.
    mutating func parseSentinelURL(_ url: String) throws(RedisError) {
        var rest = Substring(url.dropFirst(Self.sentinelScheme.count))
        takeUserInfo(from: &rest)
        if let question = rest.firstIndex(of: "?") {
            for parameter in rest[rest.index(after: question)...].split(separator: "&") {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0] == "db" else {
                    throw RedisError(.invalidURL, "unknown parameter '\(pair.first ?? "")' in \(Self.redact(url)); only db=N is understood")
                }
                guard let number = Int(pair[1]), number >= 0 else {
                    throw RedisError(.invalidURL, "db must be a non-negative integer in \(Self.redact(url))")
                }
                database = number
            }
            rest = rest[..<question]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw RedisError(.invalidURL, "missing /MASTER_NAME after the sentinels in \(Self.redact(url))")
        }
        let name = String(rest[rest.index(after: slash)...]).removingPercentEncoding ?? ""
        // Sentinel names are free text, but one with a space or a slash cannot be what was meant.
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw RedisError(.invalidURL, "missing or invalid master name after / in \(Self.redact(url))")
        }
        var nodes: [SentinelConfiguration.Node] = []
        for part in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false) {
            nodes.append(try Self.sentinelNode(part, url))
        }
        sentinel = SentinelConfiguration(nodes: nodes, masterName: name)
    }

    /// One `host[:port]` of a node list (`defaultPort` when it names none).
    static func sentinelNode(_ text: Substring, _ url: String, defaultPort: Int = 26379) throws(RedisError) -> SentinelConfiguration.Node {
        var host: String
        var portText: Substring?
        if text.hasPrefix("[") {  // [::1]:26379
            guard let close = text.firstIndex(of: "]") else { throw RedisError(.invalidURL, "unclosed [ in \(redact(url))") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw RedisError(.invalidURL, "unexpected '\(after)' after ] in \(redact(url))")
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
        } else {
            host = String(text)
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "a sentinel address has no host in \(redact(url))") }
        guard let portText else { return .init(host: host, port: defaultPort) }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw RedisError(.invalidURL, "port must be 1-65535 in \(redact(url))")
        }
        return .init(host: host, port: port)
    }

    /// The `redis-sentinel://` URL with any password replaced by `***`.
    var redactedSentinelURL: String? {
        guard let sentinel else { return nil }
        var auth = ""
        if let username { auth = password == nil ? "\(username)@" : "\(username):***@" } else if password != nil { auth = ":***@" }
        let nodes = sentinel.nodes.map(\.description).joined(separator: ",")
        return "\(Self.sentinelScheme)\(auth)\(nodes)/\(sentinel.masterName)?db=\(database)"
    }
}
