import NIOCore
import FanoutCore
import Synchronization

/// What the writer of one connection does next.
enum OutboxItem: Sendable {
    /// Write a frame. The buffer may be shared with other connections (a broadcast is encoded once).
    case frame(FrameType, ByteBuffer, origin: Int64?)
    /// Send a close frame and end the connection.
    case close(code: UInt16, reason: String)
    /// Subscribe this connection to a room before writing anything that follows.
    case join(RoomName)
    /// Unsubscribe this connection from a room.
    case leave(RoomName)
}

/// The bounded queue between Redis (many producers, never blocked) and one connection's writer.
///
/// Bounded in messages and bytes. When a client does not read fast enough and the queue is full,
/// what is queued is dropped (and counted), the queue stops accepting, and the writer's next item
/// is a close with 4008 "slow consumer" — a client that cannot keep up learns it at once instead of
/// reading stale messages first, and nobody else waits for it.
final class Outbox: Sendable {
    enum PushResult { case queued, overflowed, closed }

    private struct State {
        var items = CircularBuffer<OutboxItem>(initialCapacity: 16)
        var bytes = 0
        var waiter: CheckedContinuation<OutboxItem?, Never>?
        /// Set once: the next item the writer gets, ahead of anything queued (slow consumer).
        var closeNow: OutboxItem?
        /// No more items are accepted; the writer drains what is queued, then gets `nil`.
        var finished = false
    }

    private let maxMessages: Int
    private let maxBytes: Int
    private let state = Mutex(State())
    private let overflowed = AsyncSignal()
    private let hasOverflowed = Atomic<Bool>(false)

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    /// Queues `item` without waiting. On overflow the connection is marked for a 4008 close.
    @discardableResult
    func push(_ item: OutboxItem) -> PushResult {
        let size = if case .frame(_, let buffer, _) = item { buffer.readableBytes } else { 0 }
        let (result, waiter) = state.withLock { state -> (PushResult, CheckedContinuation<OutboxItem?, Never>?) in
            if state.finished || state.closeNow != nil { return (.closed, nil) }
            // One message larger than the byte bound is still admitted into an empty queue: the
            // bound is about a client falling behind, not about the size of a single message.
            if state.items.count >= maxMessages || (!state.items.isEmpty && state.bytes + size > maxBytes) {
                state.closeNow = .close(code: CloseCode.slowConsumer, reason: "slow consumer")
                state.items.removeAll()
                state.bytes = 0
                defer { state.waiter = nil }
                return (.overflowed, state.waiter)
            }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.queued, waiter)
            }
            state.items.append(item)
            state.bytes += size
            return (.queued, nil)
        }
        switch result {
        case .queued: waiter?.resume(returning: item)
        case .overflowed:
            hasOverflowed.store(true, ordering: .releasing)
            overflowed.signal()
            waiter?.resume(returning: .close(code: CloseCode.slowConsumer, reason: "slow consumer"))
        case .closed: break
        }
        return result
    }

    /// Queues a close after everything already queued and stops accepting (graceful shutdown:
    /// the client receives what was on its way, then the close).
    func closeAfterQueued(code: UInt16, reason: String) {
        let item = OutboxItem.close(code: code, reason: reason)
        let waiter = state.withLock { state -> CheckedContinuation<OutboxItem?, Never>? in
            if state.finished || state.closeNow != nil { return nil }
            state.finished = true
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    /// Stops accepting; the writer receives what is queued, then `nil`.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<OutboxItem?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.items.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    /// The next item for the single writer; `nil` once finished and drained, or when the task is cancelled.
    func next() async -> OutboxItem? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> OutboxItem?? in
                    if let close = state.closeNow {
                        state.closeNow = nil
                        state.finished = true
                        return .some(close)
                    }
                    if let item = state.items.popFirst() {
                        if case .frame(_, let buffer, _) = item { state.bytes -= buffer.readableBytes }
                        return .some(item)
                    }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<OutboxItem?, Never>? in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Returns once the queue has overflowed (or the task is cancelled).
    func waitUntilOverflowed() async {
        await overflowed.wait { self.hasOverflowed.load(ordering: .acquiring) }
    }

    /// Messages queued right now.
    var count: Int { state.withLock { $0.items.count } }
}
