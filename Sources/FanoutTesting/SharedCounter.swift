import Synchronization

/// An integer several test tasks update and read (an `Atomic` cannot be captured by task closures).
public final class SharedCounter: Sendable {
    private let storage: Atomic<Int>
    public init(_ value: Int = 0) { storage = Atomic(value) }
    public var value: Int { storage.load(ordering: .relaxed) }
    public func add(_ amount: Int) { _ = storage.wrappingAdd(amount, ordering: .relaxed) }
    public func store(_ value: Int) { storage.store(value, ordering: .relaxed) }
}
