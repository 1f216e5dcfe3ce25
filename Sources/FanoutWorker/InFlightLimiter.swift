import Synchronization

/// Bounds how many entries a worker holds at once. The reader asks for as many entries as there
/// are free slots, so Redis — not this process — holds whatever the worker cannot take yet.
final class InFlightLimiter: Sendable {
    private struct State {
        var inFlight = 0
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// Free slots right now.
    var available: Int { state.withLock { limit - $0.inFlight } }

    /// Entries being handled right now.
    var inFlight: Int { state.withLock { $0.inFlight } }

    func acquire(_ count: Int) { state.withLock { $0.inFlight += count } }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.inFlight -= 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once at least one slot is free (the single reader is the only caller).
    func waitForSlot() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.inFlight < limit { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Returns once nothing is in flight (used by graceful shutdown).
    func waitUntilIdle() async {
        while true {
            let idle = state.withLock { $0.inFlight == 0 }
            if idle { return }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.inFlight == 0 { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}
