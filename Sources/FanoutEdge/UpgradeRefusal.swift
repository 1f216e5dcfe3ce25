import HTTPTypes

/// Why the edge will not upgrade a request to a WebSocket: the HTTP status and a one-line reason,
/// which the client receives as `text/plain` body (README: "Limits and their answers").
struct UpgradeRefusal: Error, Sendable {
    let status: HTTPResponse.Status
    let reason: String

    static func unauthorized(_ reason: String) -> Self { .init(status: .unauthorized, reason: reason) }
    static let originNotAllowed = Self(status: .forbidden, reason: "origin not allowed")
    static let draining = Self(status: .serviceUnavailable, reason: "edge is shutting down")
    static let atCapacity = Self(status: .serviceUnavailable, reason: "edge is at its connection limit")
    static let addressAtCapacity = Self(status: .serviceUnavailable, reason: "too many connections from this address")
}
