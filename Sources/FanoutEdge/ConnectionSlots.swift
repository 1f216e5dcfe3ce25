import NIOCore
import Synchronization

/// Counts WebSocket connections from the moment their upgrade is accepted until their TCP
/// connection closes — in total and per peer address — so the limits hold even when many
/// upgrades arrive at once (the registry only sees a connection once its session started).
final class ConnectionSlots: Sendable {
    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    /// Why a slot was not granted.
    enum Refusal: Error { case edgeFull, addressFull }

    private let counts = Mutex(Counts())
    private let maxTotal: Int
    private let maxPerAddress: Int

    /// `maxPerAddress` 0 means unlimited per address.
    init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Takes a slot for `channel`, released when the channel closes.
    func reserve(for channel: any Channel) throws(Refusal) {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        try counts.withLock { (counts: inout Counts) throws(Refusal) in
            guard counts.total < maxTotal else { throw .edgeFull }
            let fromAddress = counts.byAddress[address, default: 0]
            if maxPerAddress > 0, fromAddress >= maxPerAddress { throw .addressFull }
            counts.total += 1
            counts.byAddress[address] = fromAddress + 1
        }
        channel.closeFuture.whenComplete { _ in self.release(address) }
    }

    private func release(_ address: String) {
        counts.withLock { counts in
            counts.total -= 1
            let remaining = counts.byAddress[address, default: 1] - 1
            counts.byAddress[address] = remaining > 0 ? remaining : nil
        }
    }

    /// Connections holding a slot now.
    var total: Int { counts.withLock { $0.total } }
}
