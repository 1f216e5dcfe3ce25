import NIOHTTP1

/// Why the edge will not upgrade a request to a WebSocket: the HTTP status and a one-line reason,
/// which the client receives as `text/plain` body (README: "Limits and their answers").
struct UpgradeRefusal: Error, Sendable {
    let status: HTTPResponseStatus
    let reason: String

    static func unauthorized(_ reason: String) -> Self { .init(status: .unauthorized, reason: reason) }
    static let originNotAllowed = Self(status: .forbidden, reason: "origin not allowed")
    static let draining = Self(status: .serviceUnavailable, reason: "edge is shutting down")
    static let atCapacity = Self(status: .serviceUnavailable, reason: "edge is at its connection limit")
    static let addressAtCapacity = Self(status: .serviceUnavailable, reason: "too many connections from this address")
    static let notFound = Self(status: .notFound, reason: "WebSockets are served at /ws")
    /// A missing or malformed `Sec-WebSocket-Key`, or a `Sec-WebSocket-Version` other than 13.
    static let badHandshake = Self(status: .badRequest, reason: "bad WebSocket handshake")
}
