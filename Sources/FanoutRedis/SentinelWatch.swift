import Logging
import NIOCore

/// Subscribes to `+switch-master` on one sentinel after another and reports when the master of
/// our name moved to an address other than the one we are connected to.
///
/// One watch runs beside each data connection of a sentinel configuration (see
/// `RedisConnection.waitUntilClosedOrMoved`) and ends with it: an idle sentinel connection per
/// Redis connection, which is cheap, and no process-wide registry to share and tear down.
struct SentinelWatch {
    let configuration: RedisConfiguration
    let eventLoop: any EventLoop
    let logger: Logger

    /// Waits until a sentinel announces, or is found to name, a master address other than
    /// `current`; returns that address. Returns `nil` only when cancelled. A sentinel that is down
    /// or drops the subscription is replaced by the next one, with backoff after each full round.
    func waitForSwitch(awayFrom current: SocketAddress?) async -> String? {
        let resolver = SentinelResolver(configuration)
        let nodes = resolver.sentinel.nodes
        var round = 0
        while !Task.isCancelled {
            for node in nodes {
                if Task.isCancelled { return nil }
                if let moved = await watch(node, resolver: resolver, current: current) { return moved }
            }
            round += 1
            do { try await Task.sleep(for: configuration.reconnectBackoff.delay(attempt: round)) } catch { return nil }
        }
        return nil
    }

    /// Subscribes on `node`; returns the new address on a switch, `nil` when this sentinel fails.
    private func watch(_ node: SentinelConfiguration.Node, resolver: SentinelResolver, current: SocketAddress?) async -> String? {
        guard let connection = try? await RedisConnection.connect(configuration: resolver.configuration(for: node), eventLoop: eventLoop, logger: logger)
        else { return nil }
        let subscribed = eventLoop.makePromise(of: Void.self)
        let outcome = eventLoop.makePromise(of: String?.self)
        let masterName = resolver.sentinel.masterName
        eventLoop.execute {
            // Built on the loop: the receiver lives there, like the connection's handler.
            let receiver = SwitchReceiver(masterName: masterName, current: current, subscribed: subscribed, outcome: outcome)
            connection.enterPushMode(receiver)
            connection.enqueueUntracked(RedisCommand("SUBSCRIBE", ["+switch-master"]))
            connection.closeFuture.assumeIsolated().whenComplete { _ in receiver.finish(nil) }
        }
        return await withTaskCancellationHandler {
            // A switch between our resolve and this subscription is never announced to us: once
            // subscribed, ask the sentinels once more.
            if (try? await subscribed.futureResult.get()) != nil,
                let answer = try? await resolver.resolve(eventLoop: eventLoop, logger: logger),
                !Self.matches(current, host: answer.host, port: answer.port)
            {
                connection.close()
                return answer.address
            }
            let moved = (try? await outcome.futureResult.get()) ?? nil
            connection.close()
            return moved
        } onCancel: {
            connection.close()
        }
    }

    /// `true` when `address` is `host:port` (sentinels announce IP addresses unless configured
    /// with `resolve-hostnames`; a host name never matches, which costs one needless reconnect).
    static func matches(_ address: SocketAddress?, host: String, port: Int) -> Bool {
        guard let address else { return false }
        return address.port == port && address.ipAddress == host
    }
}

/// Reads a sentinel subscription. Confined to its connection's event loop.
private final class SwitchReceiver: RedisPushReceiver {
    private let masterName: String
    private let current: SocketAddress?
    private var subscribed: EventLoopPromise<Void>?
    private var outcome: EventLoopPromise<String?>?

    init(masterName: String, current: SocketAddress?, subscribed: EventLoopPromise<Void>, outcome: EventLoopPromise<String?>) {
        self.masterName = masterName
        self.current = current
        self.subscribed = subscribed
        self.outcome = outcome
    }

    func receiveMessage(channel: ByteBuffer, payload: ByteBuffer) {
        receive(.array([.bulkString(ByteBuffer(string: "message")), .bulkString(channel), .bulkString(payload)]))
    }

    func receive(_ value: RedisValue) {
        guard case .array(let parts) = value, parts.count >= 3, let kind = parts[0].string else {
            if case .error = value { finish(nil) }  // e.g. NOAUTH: this sentinel is of no use
            return
        }
        switch kind {
        case "subscribe":
            subscribed?.succeed()
            subscribed = nil
        case "message":
            // "<name> <old-ip> <old-port> <new-ip> <new-port>"
            let words = (parts[2].string ?? "").split(separator: " ")
            guard words.count == 5, words[0] == masterName, let port = Int(words[4]) else { return }
            let host = String(words[3])
            // A switch to where we already are (we connected after it) changes nothing.
            guard !SentinelWatch.matches(current, host: host, port: port) else { return }
            finish(SentinelConfiguration.Node(host: host, port: port).description)
        default:
            break
        }
    }

    func receiveComplete() {}

    /// Completes both promises once: with the new address, or `nil` when this sentinel failed.
    func finish(_ moved: String?) {
        subscribed?.fail(RedisError(.connectionClosed, "sentinel subscription ended"))
        subscribed = nil
        outcome?.succeed(moved)
        outcome = nil
    }
}
