import FanoutCore
import Logging
import Synchronization

/// What every event loop of an edge shares: configuration, counters and the edge-wide state that
/// changes rarely (draining, connection totals). Immutable or atomic, so loops read it without a lock.
final class EdgeContext: Sendable {
    let configuration: EdgeConfiguration
    /// What each connection copies of `configuration`.
    let connectionSettings: ConnectionSettings
    let counters: EdgeCounters
    let admission: AdmissionControl
    let logger: Logger
    /// The inbound stream's key, built once (every client frame is appended to it).
    let inboundStream: String
    /// WebSocket connections from upgrade to close, in total and per peer address (the limits).
    let slots: ConnectionSlots
    private let drainingFlag = Atomic<Bool>(false)
    private let connectionTotal = Atomic<Int>(0)
    /// Signalled when a connection closes: graceful shutdown waits on it for the last one.
    let connectionClosedSignal = AsyncSignal()

    init(configuration: EdgeConfiguration, counters: EdgeCounters, admission: AdmissionControl, logger: Logger) {
        self.configuration = configuration
        self.connectionSettings = ConnectionSettings(configuration)
        self.counters = counters
        self.admission = admission
        self.logger = logger
        self.inboundStream = configuration.common.keySpace.inbound
        self.slots = ConnectionSlots(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
    }

    var keySpace: KeySpace { configuration.common.keySpace }

    /// `true` once graceful shutdown began: upgrades are refused, readiness is false.
    var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }

    func startDraining() { drainingFlag.store(true, ordering: .relaxed) }

    /// WebSocket connections open on this edge, all loops together.
    var connectionCount: Int { connectionTotal.load(ordering: .relaxed) }

    func connectionOpened() {
        let count = connectionTotal.wrappingAdd(1, ordering: .relaxed).newValue
        counters.connectionsChanged(to: count)
    }

    func connectionClosed() {
        let count = connectionTotal.wrappingSubtract(1, ordering: .relaxed).newValue
        counters.connectionsChanged(to: count)
        if count == 0 { connectionClosedSignal.signal() }
    }
}
