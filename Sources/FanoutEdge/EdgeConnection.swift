import FanoutCore
import Synchronization

/// One client connection as the edge routes to it.
final class EdgeConnection: Sendable {
    let id: ConnectionID
    let user: UserID?
    let outbox: Outbox
    /// Rooms this connection joined on this edge (to undo on close).
    let rooms = Mutex<Set<RoomName>>([])

    init(id: ConnectionID, user: UserID?, outbox: Outbox) {
        self.id = id
        self.user = user
        self.outbox = outbox
    }
}
