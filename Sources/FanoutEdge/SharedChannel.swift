import FanoutCore
import FanoutRedis
import Logging
import NIOCore

/// The local members of one room or user channel on one event loop, the subscription that covers
/// them, and the loop's place in the channel's history: every message is delivered to each member
/// once, in offset order, with no gap (decision 0030).
///
/// - **Live path.** A message arrives once per loop, is checked against the `ChannelCursor` (a few
///   integer comparisons), encoded once and written to each member: no Redis round trip and no
///   allocation per member.
/// - **Gaps.** A live message beyond the next offset, a subscriber that reconnected, or a new
///   subscription starts a *fill*: live messages are held while the loop reads the missing ones
///   from history, delivers them, then the held ones. If history no longer holds them (trimmed,
///   expired, another epoch), no silent gap is left: the members are closed with 4010
///   (`CloseCode.insufficientState`), and their clients rejoin with `since` and are told whether
///   they recovered.
/// - **Joins with a position** (`join` envelope with `<epoch> <offset>`). A member whose position
///   equals the loop's joins at once; one ahead of it (messages still on their way to this loop)
///   waits for the loop to catch up, getting only what lies beyond its position; one behind it
///   reads the difference from history while the loop's later messages are kept for it.
///   Catching-up members are rare and few; the cost of a join never reaches the live path.
///
/// Confined to the loop's event loop, like everything of `EdgeLoop`.
final class SharedChannel {
    /// A member that is not yet in step with the loop.
    private final class Joiner {
        enum State {
            /// Until the loop's SUBSCRIBE is confirmed.
            case subscribing
            /// Ahead of the loop: receives messages beyond `start` until the loop reaches it.
            case waiting
            /// Behind the loop: reading `start`…`target` from history; later messages are kept here.
            case reading(target: Int64, held: [Held])
        }
        let connection: WebSocketConnection
        let start: StreamPosition
        var state: State = .subscribing
        init(connection: WebSocketConnection, start: StreamPosition) {
            self.connection = connection
            self.start = start
        }
    }

    /// A message kept while a read is in flight.
    private struct Held {
        let position: StreamPosition
        let frame: OutboundFrame
        let except: [ConnectionID]
    }

    /// Why delivery in order became impossible, for the log and the close reason.
    enum Loss: String {
        case epochChanged = "history lost"
        case trimmed = "history trimmed"
        case unavailable = "history unavailable"
        case overflow = "too far behind"
    }

    /// Messages read per history page.
    static let pageSize = 1000
    /// How long a fill retries a read Redis cannot answer before giving up on the gap.
    static let fillPatience = TimeAmount.seconds(10)
    static let retryDelay = TimeAmount.milliseconds(100)

    let name: String
    /// Members in step with the loop: every delivered message goes to each.
    var members: [ConnectionID: WebSocketConnection] = [:]
    /// Completes when the SUBSCRIBE for this membership period is confirmed.
    let subscribed: EventLoopFuture<Void>
    /// The channel's history; `nil` for a channel that has none (not a room or user channel).
    private let keys: HistoryKeys?
    private unowned let loop: EdgeLoop
    private var cursor = ChannelCursor()
    private var held: [Held] = []
    private var joiners: [Joiner] = []
    /// Bumped by every new fill and by `close()`: a reply for an older one is ignored.
    private var generation = 0
    private var fillDeadline: NIODeadline?
    /// Fills in a row that ended where they began with a held message still beyond them: history
    /// does not have what the live stream skipped (a message published by hand), so stop trying.
    private var fruitlessFills = 0
    /// Where the current fill began.
    private var fillStart: Int64 = 0

    init(name: String, keys: HistoryKeys?, subscribed: EventLoopFuture<Void>, loop: EdgeLoop) {
        self.name = name
        self.keys = keys
        self.subscribed = subscribed
        self.loop = loop
    }

    /// No member and nobody joining.
    var isEmpty: Bool { members.isEmpty && joiners.isEmpty }

    /// The loop's position in the channel's history (tests and diagnostics).
    var position: StreamPosition? { cursor.position }

    // MARK: membership

    /// Adds a member that receives whatever the loop delivers from now on (no position).
    func add(_ connection: WebSocketConnection) {
        members[connection.id] = connection
    }

    /// Adds a member that must receive every message after `start`; it is admitted once the
    /// subscription is confirmed (`admit`).
    func reserve(_ connection: WebSocketConnection, from start: StreamPosition) {
        remove(connection.id)
        joiners.append(Joiner(connection: connection, start: start))
    }

    /// The subscription is confirmed: brings a reserved member into step (nothing is written
    /// here, so what the connection delivers next — its `joined` — comes before any room message).
    func admit(_ id: ConnectionID) {
        guard let joiner = joiners.first(where: { $0.connection.id == id }), case .subscribing = joiner.state else { return }
        // Closed while subscribing: the loop forgets it (and unsubscribes if it was the last).
        guard joiner.connection.isOpen else { return loop.removeMember(id, from: name) }
        guard keys != nil else { return promote(joiner) }
        guard let current = cursor.position else {
            // The first positioned member: the loop starts where it starts, then reads whatever
            // was published between the worker's look at the room and this subscription.
            cursor.reset(to: joiner.start)
            promote(joiner)
            startFill()
            return
        }
        guard joiner.start.epoch == current.epoch else { return dropJoiner(joiner, .epochChanged) }
        if joiner.start.offset == current.offset {
            promote(joiner)
        } else if joiner.start.offset > current.offset {
            joiner.state = .waiting
        } else {
            joiner.state = .reading(target: current.offset, held: [])
            read(for: joiner, after: joiner.start.offset, generation: generation)
        }
    }

    /// Removes a member or joiner.
    func remove(_ id: ConnectionID) {
        members.removeValue(forKey: id)
        joiners.removeAll { $0.connection.id == id }
    }

    /// The loop unsubscribed: in-flight reads are ignored from now on.
    func close() {
        generation += 1
        held = []
    }

    private func promote(_ joiner: Joiner) {
        joiners.removeAll { $0 === joiner }
        members[joiner.connection.id] = joiner.connection
    }

    private func dropJoiner(_ joiner: Joiner, _ loss: Loss) {
        joiners.removeAll { $0 === joiner }
        loop.edge.logger.info("a joining member cannot be brought into step; closing it", metadata: [
            "fanout.conn": "\(joiner.connection.id)", "fanout.channel": "\(name)", "fanout.reason": "\(loss.rawValue)",
        ])
        joiner.connection.closeForResync(loss.rawValue)
    }

    // MARK: live messages

    /// A frame published on the channel, as it arrived on the loop's subscriber.
    func receive(_ type: FrameType, _ body: ByteBuffer, origin: Int64?, except: [ConnectionID], position: StreamPosition?) {
        let frame = OutboundFrame(type, body, origin: origin, allocator: loop.allocator)
        guard let position, keys != nil else {
            // No offset (history off, or published by hand): delivered as it comes.
            write(frame, except: except, to: members.values)
            for joiner in joiners where !except.contains(joiner.connection.id) { joiner.connection.write(frame) }
            return
        }
        switch cursor.live(position) {
        case .deliver:
            deliver(frame, except: except, at: position)
        case .duplicate:
            break
        case .hold:
            hold(Held(position: position, frame: frame, except: except))
        case .gap:
            hold(Held(position: position, frame: frame, except: except))
            fruitlessFills = 0
            startFill(restart: true)
        case .epochChanged:
            lose(.epochChanged)
        }
    }

    /// The subscriber reconnected: whatever was published meanwhile is read from history.
    func resync() {
        guard keys != nil, cursor.position != nil else { return }
        startFill(restart: true)
    }

    private func hold(_ message: Held) {
        guard held.count < loop.edge.configuration.outboxMessages else { return lose(.overflow) }
        held.append(message)
    }

    /// Writes a message the cursor accepted to every member, and moves joiners along.
    private func deliver(_ frame: OutboundFrame, except: [ConnectionID], at position: StreamPosition) {
        write(frame, except: except, to: members.values)
        guard !joiners.isEmpty else { return }
        for joiner in joiners {
            switch joiner.state {
            case .subscribing:
                break
            case .waiting:
                if position.offset > joiner.start.offset, !except.contains(joiner.connection.id) { joiner.connection.write(frame) }
                if position.offset >= joiner.start.offset { promote(joiner) }
            case .reading(let target, var kept):
                kept.append(Held(position: position, frame: frame, except: except))
                joiner.state = .reading(target: target, held: kept)
            }
        }
    }

    private func write(_ frame: OutboundFrame, except: [ConnectionID], to connections: Dictionary<ConnectionID, WebSocketConnection>.Values) {
        if except.isEmpty {
            for member in connections { member.write(frame) }
        } else {
            let excluded = Set(except)
            for member in connections where !excluded.contains(member.id) { member.write(frame) }
        }
    }

    // MARK: fills

    /// Reads from history everything after the cursor, holding live messages meanwhile.
    /// `restart` abandons a read already in flight (it may predate what was missed).
    private func startFill(restart: Bool = false) {
        guard keys != nil, let position = cursor.position else { return }
        if cursor.isFilling && !restart && fillDeadline != nil { return }
        cursor.startFill()
        generation += 1
        fillStart = position.offset
        fillDeadline = .now() + Self.fillPatience
        loop.edge.counters.historyFill()
        readPage(after: position.offset, generation: generation)
    }

    private func readPage(after: Int64, generation: Int) {
        guard let keys else { return }
        loop.history.read(keys, after: after, count: Self.pageSize) { result in
            guard generation == self.generation else { return }
            switch result {
            case .success(let page):
                self.filled(page, generation: generation)
            case .failure(let error):
                guard let deadline = self.fillDeadline, .now() + Self.retryDelay < deadline else {
                    self.loop.edge.logger.warning("history read failed", metadata: ["fanout.channel": "\(self.name)", "fanout.error": "\(error)"])
                    return self.lose(.unavailable)
                }
                self.loop.eventLoop.assumeIsolated().scheduleTask(in: Self.retryDelay) {
                    guard generation == self.generation, let position = self.cursor.position else { return }
                    self.readPage(after: position.offset, generation: generation)
                }
            }
        }
    }

    private func filled(_ page: HistoryPage, generation: Int) {
        guard let current = cursor.position, page.epoch == current.epoch else { return lose(.epochChanged) }
        for raw in page.envelopes {
            guard case .frame(let type, let body, let origin, let except, let position?)? = try? OutboundEnvelope(decoding: raw) else { continue }
            switch cursor.fromHistory(position) {
            case .deliver: deliver(OutboundFrame(type, body, origin: origin, allocator: loop.allocator), except: except, at: position)
            case .duplicate, .hold: continue
            case .gap: return lose(.trimmed)
            case .epochChanged: return lose(.epochChanged)
            }
        }
        let reached = cursor.position?.offset ?? 0
        if page.envelopes.count >= Self.pageSize, reached < page.offset {
            return readPage(after: reached, generation: generation)
        }
        // Everything up to the history's offset at the time of the read must have been there.
        guard reached >= page.offset else { return lose(.trimmed) }
        fruitlessFills = reached > fillStart ? 0 : fruitlessFills + 1
        cursor.endFill()
        fillDeadline = nil
        let waiting = held
        held = []
        for (index, message) in waiting.enumerated() {
            switch cursor.live(message.position) {
            case .deliver:
                deliver(message.frame, except: message.except, at: message.position)
            case .duplicate, .hold:
                continue
            case .gap:
                // Missed after the read was made (another hiccup): read again — unless reads stopped
                // making progress, which means history never had it.
                guard fruitlessFills < 2 else { return lose(.trimmed) }
                held = Array(waiting[index...])
                return startFill(restart: true)
            case .epochChanged:
                return lose(.epochChanged)
            }
        }
    }

    /// Reads what a joiner behind the loop missed (`start`…`target`), then the messages kept for
    /// it, then makes it a member.
    private func read(for joiner: Joiner, after: Int64, generation: Int) {
        guard let keys else { return }
        loop.history.read(keys, after: after, count: Self.pageSize) { result in
            guard generation == self.generation, self.joiners.contains(where: { $0 === joiner }),
                case .reading(let target, let kept) = joiner.state
            else { return }
            guard case .success(let page) = result else { return self.dropJoiner(joiner, .unavailable) }
            guard page.epoch == joiner.start.epoch else { return self.dropJoiner(joiner, .epochChanged) }
            var reached = after
            for raw in page.envelopes {
                guard case .frame(let type, let body, let origin, let except, let position?)? = try? OutboundEnvelope(decoding: raw),
                    position.offset > reached
                else { continue }
                guard position.offset <= target else { break }
                guard position.offset == reached + 1 else { return self.dropJoiner(joiner, .trimmed) }
                reached = position.offset
                if !except.contains(joiner.connection.id) {
                    joiner.connection.write(OutboundFrame(type, body, origin: origin, allocator: self.loop.allocator))
                }
            }
            if reached < target {
                guard page.envelopes.count >= Self.pageSize else { return self.dropJoiner(joiner, .trimmed) }
                return self.read(for: joiner, after: reached, generation: generation)
            }
            for message in kept where !message.except.contains(joiner.connection.id) { joiner.connection.write(message.frame) }
            self.promote(joiner)
        }
    }

    /// Order can no longer be kept: every member and joiner is closed with 4010 so its client
    /// rejoins with `since` (and hears `recovered:false` if history cannot help), and the loop
    /// starts over with whoever joins next.
    private func lose(_ loss: Loss) {
        loop.edge.counters.historyLoss()
        loop.edge.logger.warning("cannot deliver a channel's messages in order; closing its members with 4010", metadata: [
            "fanout.channel": "\(name)", "fanout.reason": "\(loss.rawValue)", "fanout.count": "\(members.count + joiners.count)",
        ])
        let everyone = Array(members.values) + joiners.map(\.connection)
        generation += 1
        held = []
        joiners = []
        fillDeadline = nil
        fruitlessFills = 0
        cursor.reset(to: nil)
        for connection in everyone { connection.closeForResync(loss.rawValue) }
    }
}
