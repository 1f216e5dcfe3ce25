extension WebSocketConnection {
    /// Appends in flight per connection before it stops reading its socket, and where it resumes.
    static let maxUnacknowledged = 256
    static let resumeBelow = 128
    /// One frame in this many carries a write promise: the count of frames still in the channel's
    /// outbound buffer is known to within this many, at one promise per that many frames.
    static let checkpointEvery = 16
    /// The reply tag of the `open` XADD; messages are tagged with their sequence number (≥ 1).
    static let openTag = 0
    /// The reply tag of replies nobody waits for (the edge's connection set).
    static let ignoredTag = -1
}
