public import NIOCore

/// One inbound stream entry as a handler sees it.
public struct InboundMessage: Sendable {
    /// The stream entry ID: unique, and the same on every redelivery — the idempotency key.
    public let id: String
    /// `message` for a client frame, `open` / `close` for connects and disconnects.
    public let kind: InboundEntry.Kind
    /// The connection that sent it.
    public let connection: ConnectionID
    /// The edge that owns the connection.
    public let edge: EdgeID
    /// The authenticated user, if the connection carries one.
    public let user: UserID?
    /// Text or binary, as the client sent it.
    public let frameType: FrameType
    /// The frame's bytes, untouched by the edge.
    public let payload: ByteBuffer
    /// Microseconds since 1970 when the edge received it.
    public let receivedAt: Int64
    /// How many times this entry has been delivered to a worker, this delivery included (1 the first time).
    public let deliveryCount: Int

    public init(id: String, entry: InboundEntry, deliveryCount: Int) {
        self.id = id
        self.kind = entry.kind
        self.connection = entry.connection
        self.edge = entry.edge
        self.user = entry.user
        self.frameType = entry.frameType
        self.payload = entry.payload
        self.receivedAt = entry.receivedAt
        self.deliveryCount = deliveryCount
    }

    /// The payload as a string, for text frames.
    public var text: String? {
        frameType == .text ? String(buffer: payload) : nil
    }
}
