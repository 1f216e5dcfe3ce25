public import FanoutCore
public import FanoutRedis
import HTTPTypes
import HummingbirdWSClient
public import Logging
public import NIOCore
import NIOWebSocket
import Synchronization

/// A WebSocket client for Fanout edges: connect, send, receive, and reconnect with backoff and
/// jitter when the connection drops (unless the server closed it on purpose or `close()` was called).
///
/// `run()` owns the connection loop; events arrive on `events` in order. Sending while
/// disconnected throws `FanoutClientError.notConnected` — the client never buffers silently.
///
/// Rooms (the chat protocol): `join(room:)` remembers the room and the last message offset seen
/// in it (`RoomPositions`); after every reconnect the client joins it again naming that offset
/// (`since`) and epoch, so the edge sends the messages missed meanwhile first, in order. A room
/// message seen before is not delivered twice, and a rejoin that could not recover is reported
/// as `.recoveryFailed`.
public final class FanoutClient: Sendable {
    /// What happened on the connection, in order.
    public enum Event: Sendable, Equatable {
        /// The WebSocket handshake completed.
        case connected
        /// A frame from the server.
        case message(FrameType, ByteBuffer)
        /// The connection ended; `code` is the close code the server sent, if it sent one.
        case closed(code: UInt16?, reason: String?)
        /// The connection failed to open (HTTP status or connect error, as text).
        case failed(String)
        /// A reconnect will be attempted after `delay`.
        case reconnecting(attempt: Int, delay: Duration)
        /// A rejoin after a reconnect could not recover the messages missed in `room` (`reason`:
        /// `trimmed`, `expired`, `epoch_changed` …); later messages arrive as usual.
        case recoveryFailed(room: String, reason: String)
    }

    /// When to reconnect.
    public struct ReconnectPolicy: Sendable {
        public var backoff: Backoff
        /// Attempts before giving up; `nil` retries forever.
        public var maxAttempts: Int?
        /// Close codes after which the client does not reconnect (normal closure, policy violation …).
        public var finalCloseCodes: Set<UInt16>

        public init(backoff: Backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10)), maxAttempts: Int? = nil,
                    finalCloseCodes: Set<UInt16> = [1000, 1002, 1003, 1007, 1008, 1009])
        {
            self.backoff = backoff
            self.maxAttempts = maxAttempts
            self.finalCloseCodes = finalCloseCodes
        }

        /// Never reconnect.
        public static let never = ReconnectPolicy(maxAttempts: 0)
    }

    public let url: String
    private let reconnect: ReconnectPolicy
    private let headers: [(String, String)]
    private let maxMessageBytes: Int
    private let logger: Logger
    private let writer = Mutex<WebSocketOutboundWriter?>(nil)
    private let closing = Atomic<Bool>(false)
    private let eventStream: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let positions = Mutex(RoomPositions())

    /// - Parameters:
    ///   - url: `ws://host:port/ws`.
    ///   - headers: extra HTTP headers for the upgrade request (`Authorization`, `Origin` …).
    public init(
        url: String, reconnect: ReconnectPolicy = ReconnectPolicy(), headers: [(String, String)] = [],
        maxMessageBytes: Int = 16 << 20, logger: Logger = Logger(label: "fanout.client")
    ) {
        self.url = url
        self.reconnect = reconnect
        self.headers = headers
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
        (eventStream, eventSink) = AsyncStream.makeStream(of: Event.self)
    }

    /// Everything that happens, in order. Ends when `run()` returns.
    public var events: AsyncStream<Event> { eventStream }

    /// `true` while a connection is open.
    public var isConnected: Bool { writer.withLock { $0 != nil } }

    /// Connects and keeps reconnecting per the policy until `close()`, a final close code, or cancellation.
    public func run() async {
        defer { eventSink.finish() }
        var attempt = 0
        while !closing.load(ordering: .relaxed) && !Task.isCancelled {
            var configuration = WebSocketClientConfiguration(maxFrameSize: maxMessageBytes, validateUTF8: true)
            var fields = configuration.additionalHeaders
            for (name, value) in headers {
                if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
            }
            configuration.additionalHeaders = fields
            var closeCode: UInt16?
            let connected = Atomic<Bool>(false)
            do {
                let frame = try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                    inbound, outbound, _ in
                    self.writer.withLock { $0 = outbound }
                    self.eventSink.yield(.connected)
                    connected.store(true, ordering: .relaxed)
                    defer { self.writer.withLock { $0 = nil } }
                    // Rooms joined before are joined again, each naming the last message seen.
                    let rejoins = self.positions.withLock { positions in positions.rooms.keys.sorted().map { positions.join($0) } }
                    for join in rejoins { try await outbound.write(.text(join)) }
                    for try await message in inbound.messages(maxSize: self.maxMessageBytes) {
                        switch message {
                        case .text(let text):
                            switch self.positions.withLock({ $0.track(text) }) {
                            case .drop: continue
                            case .deliver: self.eventSink.yield(.message(.text, ByteBuffer(string: text)))
                            case .deliverAndRecoveryFailed(let room, let reason):
                                self.eventSink.yield(.message(.text, ByteBuffer(string: text)))
                                self.eventSink.yield(.recoveryFailed(room: room, reason: reason))
                            }
                        case .binary(let buffer): self.eventSink.yield(.message(.binary, buffer))
                        }
                    }
                }
                closeCode = frame.map { UInt16($0.closeCode.wireCode) }
                eventSink.yield(.closed(code: closeCode, reason: frame?.reason))
            } catch {
                eventSink.yield(.failed("\(error)"))
            }
            writer.withLock { $0 = nil }
            if connected.load(ordering: .relaxed) { attempt = 0 }
            if closing.load(ordering: .relaxed) { break }
            if let closeCode, reconnect.finalCloseCodes.contains(closeCode) { break }
            if let maxAttempts = reconnect.maxAttempts, attempt >= maxAttempts { break }
            let delay = reconnect.backoff.delay(attempt: attempt)
            attempt += 1
            eventSink.yield(.reconnecting(attempt: attempt, delay: delay))
            do { try await Task.sleep(for: delay) } catch { break }
        }
    }

    /// Sends a text frame.
    public func send(text: String) async throws {
        try await current().write(.text(text))
    }

    /// Sends a binary frame.
    public func send(binary: ByteBuffer) async throws {
        try await current().write(.binary(binary))
    }

    /// Joins `room` (chat protocol) now, and again after every reconnect with the last offset seen.
    public func join(room: String) async throws {
        let text = positions.withLock { $0.join(room) }
        try await current().write(.text(text))
    }

    /// Leaves `room` and forgets it.
    public func leave(room: String) async throws {
        positions.withLock { $0.leave(room) }
        try await current().write(.text(#"{"type":"leave","room":"\#(room)"}"#))
    }

    /// The epoch and offset of the last message seen in `room`, if any.
    public func position(room: String) -> RoomPositions.Position? {
        positions.withLock { $0.rooms[room] }
    }

    /// Closes the connection with `code` and stops reconnecting.
    public func close(code: UInt16 = 1000, reason: String = "") async {
        closing.store(true, ordering: .relaxed)
        try? await writer.withLock { $0 }?.close(WebSocketErrorCode(codeNumber: Int(code)), reason: reason)
    }

    private func current() throws(FanoutClientError) -> WebSocketOutboundWriter {
        guard let writer = writer.withLock({ $0 }) else { throw FanoutClientError.notConnected }
        return writer
    }
}

/// Errors of `FanoutClient`.
public enum FanoutClientError: Error, Sendable {
    /// No connection is open right now.
    case notConnected
}

extension WebSocketErrorCode {
    /// The numeric close code on the wire.
    var wireCode: Int {
        switch self {
        case .normalClosure: 1000
        case .goingAway: 1001
        case .protocolError: 1002
        case .unacceptableData: 1003
        case .dataInconsistentWithMessage: 1007
        case .policyViolation: 1008
        case .messageTooLarge: 1009
        case .missingExtension: 1010
        case .unexpectedServerError: 1011
        case .unknown(let code): Int(code)
        }
    }
}
