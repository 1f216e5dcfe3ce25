import Foundation

/// Fetches `http://127.0.0.1:<port><path>` and returns the body (for `/metrics` scrapes in tests).
public enum HTTPGet {
    public static func body(port: Int, path: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            // A plain blocking exchange on a thread of its own, never on the cooperative pool.
            Thread {
                continuation.resume(with: Result { try fetch(port: port, path: path) })
            }.start()
        }
    }

    /// Status and body of `GET <path>` with extra `headers`.
    public static func response(port: Int, path: String, headers: [(String, String)] = []) async throws -> (status: Int, body: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    for (name, value) in headers { request += "\(name): \(value)\r\n" }
                    let text = String(decoding: try exchange(port: port, request: request + "\r\n"), as: UTF8.self)
                    let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
                    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
                    return (status, body)
                })
            }.start()
        }
    }

    /// One line from a TCP port that writes a line and closes (HAProxy's agent-check protocol).
    public static func line(port: Int) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    String(decoding: try exchange(port: port, request: nil), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                })
            }.start()
        }
    }

    private static func fetch(port: Int, path: String) throws -> String {
        let raw = try exchange(port: port, request: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let text = String(decoding: raw, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestServerError("malformed HTTP response") }
        return String(text[split.upperBound...])
    }

    private static func exchange(port: Int, request: String?) throws -> [UInt8] {
        let fd = try LoopbackSocket.connect(port: port, receiveTimeout: 5)
        defer { close(fd) }
        if let request { _ = request.withCString { send(fd, $0, strlen($0), 0) } }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        return response
    }
}

/// Reads one sample from a Prometheus text exposition: the sum of every series named `name`
/// (whatever its labels); `nil` when the family is absent.
public func metricValue(_ exposition: String, _ name: String) -> Double? {
    var total: Double?
    for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
        let series = line.prefix { $0 != " " && $0 != "{" }
        guard series == name, let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
        total = (total ?? 0) + value
    }
    return total
}
