import Synchronization

/// The port a server bound, announced once it listens: `wait()` returns it to whoever needs it
/// (tests, a port-0 server's caller), or `nil` when the waiting task is cancelled first.
public final class BoundPort: Sendable {
    private let port = Mutex<Int?>(nil)
    private let announced = AsyncSignal()

    public init() {}

    /// Records the port and wakes every waiter.
    public func announce(_ value: Int) {
        port.withLock { $0 = value }
        announced.signal()
    }

    /// The port, once announced.
    public func wait() async -> Int? {
        await announced.wait { self.port.withLock { $0 != nil } }
        return port.withLock { $0 }
    }
}
