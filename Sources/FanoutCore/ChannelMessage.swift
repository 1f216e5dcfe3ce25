public import NIOCore

/// A payload into which Redis writes the message's offset, in decimal, between each two pieces:
/// `OffsetStampedPayload(before: #"{"n":"#, after: "}")` becomes `{"n":17}`.
///
/// The offset is only known inside the history script, when the message is appended, so a handler
/// that wants it in its payload leaves a gap for it. A single piece is a payload without a gap.
/// With history off there is no offset: the gaps are filled with `0`.
public struct OffsetStampedPayload: Sendable, Hashable {
    /// The payload's bytes around the gaps; the offset goes between each two.
    public var pieces: [ByteBuffer]

    /// A payload with no gap.
    public init(_ payload: ByteBuffer) { pieces = [payload] }

    /// `before`, the offset, `after`.
    public init(before: ByteBuffer, after: ByteBuffer) { pieces = [before, after] }

    /// The payload with `offset` in every gap.
    public func filled(with offset: Int64) -> ByteBuffer {
        guard pieces.count > 1 else { return pieces.first ?? ByteBuffer() }
        let digits = String(offset)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(pieces.reduce(0) { $0 + $1.readableBytes } + digits.utf8.count * (pieces.count - 1))
        for (index, piece) in pieces.enumerated() {
            if index > 0 { buffer.writeString(digits) }
            buffer.writeImmutableBuffer(piece)
        }
        return buffer
    }
}

/// A message to a room or user channel, as a handler recorded it.
///
/// With history on, the worker appends it with `HistoryScript.append` (next offset, kept, published
/// in one step); with history off, it is published as a plain envelope, as before history existed.
public struct ChannelMessage: Sendable, Hashable {
    /// `<prefix>:room:<room>` or `<prefix>:user:<user>`.
    public let channel: String
    /// Where its history is kept.
    public let history: HistoryKeys
    /// `.room` or `.user`: nobody listening is not an error.
    public let audience: Effect.Audience
    public let type: FrameType
    public let payload: OffsetStampedPayload
    /// When the edge received the message that caused this one (µs since 1970).
    public let origin: Int64?
    /// Connections that must not receive it.
    public let except: [ConnectionID]

    /// The envelope when history is off: no position, gaps filled with 0.
    public var plainEnvelope: OutboundEnvelope {
        .frame(type, payload.filled(with: 0), origin: origin, except: except)
    }
}
