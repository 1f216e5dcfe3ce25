import NIOCore

/// `FANOUT_REDIS_MIN_REPLICAS` on one connection: after each write batch that carries commands
/// marked `replicated`, one `WAIT n timeout` is appended, and those commands' replies are held
/// until its answer. Enough replicas: they are delivered as they came. Too few (or an error, or
/// the connection failing first): each is failed with `.notReplicated` (or the connection's
/// error) — the command ran on the master, but nothing says a failover would keep it.
///
/// Why per batch, not per command: WAIT covers every write the connection made before it, so one
/// WAIT answers for a whole pipelined batch, and its cost (a round trip to the replicas) is paid
/// once per flush rather than once per frame. Redis blocks the connection while WAIT waits, so
/// the next batch queues behind it; batches grow under load instead of WAITs multiplying.
///
/// Held replies are failed or delivered in the order they arrived, so a receiver still sees its
/// replies in enqueue order. Confined to the connection's event loop, like its handler.
struct ReplicationGate {
    /// How a pending command's reply is treated.
    enum Role {
        /// Delivered at once (every command when the gate is off).
        case direct
        /// Held until the next WAIT reply.
        case held
        /// The WAIT itself: releases or fails everything held.
        case wait
    }

    let replicas: Int
    let timeout: Duration
    /// A marked command was encoded since the last flush: the flush appends a WAIT.
    var batchNeedsWait = false
    private var held = CircularBuffer<(responder: RedisResponder, reply: RedisValue)>()

    /// `nil` when the configuration asks for no replicas: then no command is ever held.
    init?(_ configuration: RedisConfiguration) {
        guard configuration.minReplicas > 0 else { return nil }
        replicas = configuration.minReplicas
        timeout = configuration.minReplicasTimeout
    }

    /// `WAIT numreplicas timeout` — https://redis.io/commands/wait. Its block time extends the
    /// reply deadline, so the health check does not take a slow WAIT for a dead server.
    var waitCommand: RedisCommand {
        var command = RedisCommand("WAIT")
        command.append(replicas)
        command.append(decimal: timeout.milliseconds)
        command.blockingTime = timeout
        return command
    }

    mutating func hold(_ responder: RedisResponder, _ reply: RedisValue) {
        held.append((responder, reply))
    }

    /// Everything held so far, handed over for `deliver`. Taken out first, because delivering
    /// calls receivers that may enqueue again — into this gate, which must not be mid-mutation.
    mutating func takeHeld() -> CircularBuffer<(responder: RedisResponder, reply: RedisValue)> {
        defer { held = CircularBuffer() }
        return held
    }

    /// What the WAIT's answer means for the replies it held: `nil` when enough replicas confirmed.
    func verdict(_ waitReply: RedisValue) -> RedisError? {
        if case .error(let message) = waitReply {
            return RedisError(.notReplicated, "WAIT failed: \(message)", command: "WAIT")
        }
        let confirmed = waitReply.int ?? -1
        guard confirmed < replicas else { return nil }
        return RedisError(.notReplicated, "\(max(confirmed, 0)) of \(replicas) replicas confirmed the write within \(timeout)", command: "WAIT")
    }

    /// Delivers held replies in order, or fails them with `failure` (error replies stay as they are
    /// when the WAIT fell short: the command failed on the master anyway).
    static func deliver(_ held: CircularBuffer<(responder: RedisResponder, reply: RedisValue)>, failing failure: RedisError?, connectionFailed: Bool = false) {
        for next in held {
            if let failure, connectionFailed || !next.reply.isError {
                next.responder.fail(failure)
            } else {
                next.responder.succeed(next.reply)
            }
        }
    }
}

extension RedisValue {
    /// `true` for an error reply.
    var isError: Bool {
        if case .error = self { return true }
        return false
    }
}
