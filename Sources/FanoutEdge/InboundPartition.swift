import FanoutRedis

/// One inbound stream as an edge appends to it: its name, and its hash slot, which in a cluster
/// names the master connection its XADDs go to (computed once, not per frame).
struct InboundPartition: Sendable {
    let name: String
    let slot: HashSlot
}
