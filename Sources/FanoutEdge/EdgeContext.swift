import FanoutCore
import FanoutRedis
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
    /// The inbound streams' keys and hash slots, built once (every client frame is appended to one).
    let inboundPartitions: [InboundPartition]
    /// The slot of `<prefix>:edge:<edge>:conns`: in a cluster, the master its SADDs go to.
    let edgeConnectionsSlot: HashSlot
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
        self.inboundPartitions = configuration.common.keySpace.inboundStreams.map { InboundPartition(name: $0, slot: HashSlot(key: $0)) }
        self.edgeConnectionsSlot = HashSlot(key: configuration.common.keySpace.edgeConnections(configuration.edgeID))
        self.slots = ConnectionSlots(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerIP)
    }

    var keySpace: KeySpace { configuration.common.keySpace }

    /// The inbound stream of `connection`'s entries (`FANOUT_STREAM_PARTITIONS`).
    func inboundPartition(for connection: ConnectionID) -> InboundPartition {
        inboundPartitions[keySpace.inboundPartition(of: connection)]
    }

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
