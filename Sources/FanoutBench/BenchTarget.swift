/// Where the load goes: an edge (or a proxy in front of edges) or the ceiling server.
public struct BenchTarget: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    public init(host: String = "127.0.0.1", port: Int, path: String = "/ws") {
        self.host = host
        self.port = port
        self.path = path
    }

    /// Parses `ws://host:port/path`.
    public init?(url: String) {
        guard url.hasPrefix("ws://") else { return nil }
        let rest = url.dropFirst(5)
        let hostPort = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(hostPort.count)
        guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
        self.init(host: String(hostPort[..<colon]), port: port, path: path.isEmpty ? "/" : String(path))
    }

    public var description: String { "ws://\(host):\(port)\(path)" }
}
