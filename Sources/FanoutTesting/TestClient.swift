public import FanoutClient
public import FanoutCore
import Logging
public import NIOCore
import Synchronization

/// A real WebSocket client for tests: a `FanoutClient` (no reconnect unless asked) whose events are
/// buffered so a test can await them one by one with a deadline.
public final class TestClient: Sendable {
    public let client: FanoutClient
    private struct Inbox {
        var events: [FanoutClient.Event] = []
        var waiter: CheckedContinuation<FanoutClient.Event?, Never>?
        var finished = false
    }
    private let inbox = Mutex(Inbox())

    public init(url: String, headers: [(String, String)] = [], reconnect: FanoutClient.ReconnectPolicy = .never) {
        client = FanoutClient(url: url, reconnect: reconnect, headers: headers, logger: Logger(label: "fanout.test.client"))
    }

    /// Connects and pumps events until the client ends; run it as a child task.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            for await event in client.events { deliver(event) }
            let waiter = inbox.withLock { inbox -> CheckedContinuation<FanoutClient.Event?, Never>? in
                inbox.finished = true
                defer { inbox.waiter = nil }
                return inbox.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    private func deliver(_ event: FanoutClient.Event) {
        let waiter = inbox.withLock { inbox -> CheckedContinuation<FanoutClient.Event?, Never>? in
            if let waiter = inbox.waiter {
                inbox.waiter = nil
                return waiter
            }
            inbox.events.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The next event, waiting up to `timeout`. An event that arrives as the wait times out is
    /// still returned, never dropped.
    public func nextEvent(timeout: Duration = .seconds(10)) async throws -> FanoutClient.Event {
        let event = await withTaskGroup(of: FanoutClient.Event?.self) { group -> FanoutClient.Event? in
            group.addTask { await self.takeEvent() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            // The first result decides, unless it is the timer: then the waiting side, once
            // cancelled, reports whether an event was handed to it in the meantime.
            var received: FanoutClient.Event?
            for await result in group {
                if let result {
                    received = result
                    break
                }
                group.cancelAll()
            }
            group.cancelAll()
            return received
        }
        if let event { return event }
        if inbox.withLock({ $0.finished && $0.events.isEmpty }) { throw TestClientError.ended }
        throw TimedOut(what: "next WebSocket event", after: timeout)
    }

    /// Takes the next buffered event or waits for one. Cancellation (a timeout) withdraws the wait,
    /// so no event is ever handed to a waiter nobody listens to any more.
    private func takeEvent() async -> FanoutClient.Event? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<FanoutClient.Event?, Never>) in
                let ready = self.inbox.withLock { inbox -> FanoutClient.Event?? in
                    if !inbox.events.isEmpty { return .some(inbox.events.removeFirst()) }
                    if inbox.finished || Task.isCancelled { return .some(nil) }
                    inbox.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = self.inbox.withLock { inbox -> CheckedContinuation<FanoutClient.Event?, Never>? in
                defer { inbox.waiter = nil }
                return inbox.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Waits for the WebSocket handshake.
    public func waitUntilConnected(timeout: Duration = .seconds(10)) async throws {
        let event = try await nextEvent(timeout: timeout)
        guard event == .connected else { throw TestClientError.unexpected(event) }
    }

    /// The next data frame (type and bytes); fails on a close.
    public func nextMessage(timeout: Duration = .seconds(10)) async throws -> (FrameType, ByteBuffer) {
        let event = try await nextEvent(timeout: timeout)
        guard case .message(let type, let bytes) = event else { throw TestClientError.unexpected(event) }
        return (type, bytes)
    }

    /// The next text frame as a string.
    public func nextText(timeout: Duration = .seconds(10)) async throws -> String {
        let (type, bytes) = try await nextMessage(timeout: timeout)
        guard type == .text else { throw TestClientError.unexpected(.message(type, bytes)) }
        return String(buffer: bytes)
    }

    /// Skips data frames until the close; returns the close code the server sent.
    public func closeCode(timeout: Duration = .seconds(10)) async throws -> UInt16? {
        while true {
            let event = try await nextEvent(timeout: timeout)
            if case .closed(let code, _) = event { return code }
            if case .failed(let reason) = event { throw TestClientError.failed(reason) }
        }
    }

    public func send(text: String) async throws { try await client.send(text: text) }
    public func send(binary: ByteBuffer) async throws { try await client.send(binary: binary) }
    public func close() async { await client.close() }
}

/// How a test client's expectations failed.
public enum TestClientError: Error, CustomStringConvertible {
    case ended
    case unexpected(FanoutClient.Event)
    case failed(String)

    public var description: String {
        switch self {
        case .ended: "the client's event stream ended"
        case .unexpected(let event): "unexpected event \(event)"
        case .failed(let reason): "connection failed: \(reason)"
        }
    }
}

/// Runs `count` connected clients (spread round-robin over `urls`) for the duration of `body`.
public func withTestClients<Result: Sendable>(
    _ count: Int, urls: [String], headers: [(String, String)] = [],
    _ body: @Sendable ([TestClient]) async throws -> Result
) async throws -> Result {
    let clients = (0..<count).map { TestClient(url: urls[$0 % urls.count], headers: headers) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        for client in clients { group.addTask { await client.run() } }
        defer { group.cancelAll() }
        for client in clients { try await client.waitUntilConnected() }
        let result = try await body(clients)
        for client in clients { await client.close() }
        return result
    }
}
