import Synchronization

/// Lets tasks wait until some condition holds, with cancellation withdrawing the wait.
///
/// The condition lives in the owner's own state. Waiters call `wait(until:)`, which checks the
/// condition under this signal's lock before registering; owners change their state first and
/// then call `signal()`. That order means a wake-up can never fall between the check and the
/// registration. Cancelling a waiting task resumes it at once — so a wait can be raced against a
/// deadline in a task group, which a plain continuation would silently defeat.
public final class AsyncSignal: Sendable {
    private struct State {
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Returns once `condition()` is true, or once the task is cancelled.
    public func wait(until condition: @Sendable () -> Bool) async {
        while !condition() && !Task.isCancelled {
            let id = state.withLock { state -> UInt64 in
                state.nextID += 1
                return state.nextID
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if condition() || Task.isCancelled { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }

    /// Wakes every waiter so it re-checks its condition. Call after changing the state it depends on.
    public func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }
}
