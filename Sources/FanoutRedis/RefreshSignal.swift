import Synchronization

/// Wakes a cluster client's topology loop when someone saw the slot map go stale (a `MOVED`, a
/// closed master connection, a subscriber's `sunsubscribe`), and lets it sleep until then.
///
/// Requests coalesce: any number of them before the loop looks become one refresh. Cancelling the
/// waiting task resumes it at once, so a wait can be raced against a deadline in a task group.
final class RefreshSignal: Sendable {
    private struct State {
        var requested = false
        var stopped = false
        var wake: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Asks for a refresh; wakes the loop if it waits.
    func request() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.requested = true
            defer { state.wake = nil }
            return state.wake
        }?.resume()
    }

    /// Ends the loop: `isStopped` turns true and a waiting loop wakes.
    func stop() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            defer { state.wake = nil }
            return state.wake
        }?.resume()
    }

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Clears the pending request: called when a refresh starts, so requests made during it count.
    func beginRefresh() {
        state.withLock { $0.requested = false }
    }

    /// Returns when a refresh is requested, on `stop()`, after `timeout`, or on cancellation.
    func wait(timeout: Duration?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let now = self.state.withLock { state -> Bool in
                            if state.requested || state.stopped || Task.isCancelled { return true }
                            state.wake = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                        defer { state.wake = nil }
                        return state.wake
                    }?.resume()
                }
            }
            if let timeout { group.addTask { try? await Task.sleep(for: timeout) } }
            await group.next()
            group.cancelAll()
        }
    }
}
