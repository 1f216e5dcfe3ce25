import Logging
import NIOCore

/// Asks Redis Sentinels where the master is, following the Sentinel client guidelines
/// (https://redis.io/docs/latest/develop/reference/sentinel-clients/): each sentinel in turn gets
/// `SENTINEL get-master-addr-by-name`; one that cannot be reached or fails is skipped; the first
/// address named wins. (The node at that address is then asked `ROLE` by
/// `RedisConnection.connect` before anything is sent to it.)
///
/// Stateless: every connect and reconnect asks again, so a failover is followed as soon as the
/// sentinels agree on it. Each sentinel connection is opened, asked once and closed: resolving is
/// rare (connects only), and a long-lived sentinel connection would be one more thing to repair.
struct SentinelResolver {
    /// A master address, and the sentinel that named it (for messages).
    struct Answer: Sendable, Hashable {
        let host: String
        let port: Int
        let sentinel: SentinelConfiguration.Node

        var address: String { SentinelConfiguration.Node(host: host, port: port).description }
    }

    let sentinel: SentinelConfiguration
    let connectTimeout: Duration
    let commandTimeout: Duration

    init(_ configuration: RedisConfiguration) {
        self.sentinel = configuration.sentinel ?? SentinelConfiguration(nodes: [], masterName: "")
        self.connectTimeout = configuration.connectTimeout
        self.commandTimeout = configuration.commandTimeout
    }

    /// The configuration of a plain connection to one sentinel (its password, no database, no WAIT).
    func configuration(for node: SentinelConfiguration.Node) -> RedisConfiguration {
        RedisConfiguration(
            host: node.host, port: node.port, password: sentinel.password,
            connectTimeout: connectTimeout, commandTimeout: commandTimeout, clientName: nil)
    }

    /// The master's address as the first answering sentinel names it, leaving out `excluded`
    /// addresses (ones the caller already found dead or not a master: right after a failover, a
    /// sentinel that has not heard of it yet still names the old master while another names the
    /// new one).
    ///
    /// - Throws: `.unknownMaster` when every sentinel that answered knows no master of that name;
    ///   `.noSentinel` when none answered (each one's failure is in the message) or every answer
    ///   was excluded. All retryable.
    func resolve(eventLoop: any EventLoop, logger: Logger, excluding excluded: Set<String> = []) async throws(RedisError) -> Answer {
        var failures: [String] = []
        var unknownTo: [SentinelConfiguration.Node] = []
        for node in sentinel.nodes {
            let connection: RedisConnection
            do {
                connection = try await RedisConnection.connect(configuration: configuration(for: node), eventLoop: eventLoop, logger: logger)
            } catch {
                failures.append("\(node): \(error.message)")
                continue
            }
            defer { connection.close() }
            let reply: RedisValue
            do {
                reply = try await connection.send(.sentinelMasterAddress(sentinel.masterName))
            } catch {
                failures.append("\(node): \((error as? RedisError)?.message ?? "\(error)")")
                continue
            }
            guard case .array(let parts) = reply, parts.count == 2, let host = parts[0].string,
                let port = parts[1].string.flatMap({ Int($0) })
            else {
                // A null reply: this sentinel monitors no master of that name.
                unknownTo.append(node)
                continue
            }
            let answer = Answer(host: host, port: port, sentinel: node)
            if excluded.contains(answer.address) {
                failures.append("\(node): names \(answer.address), which failed")
                continue
            }
            logger.debug("sentinel named the master", metadata: [
                "redis.sentinel": "\(node)", "redis.master": "\(sentinel.masterName)", "redis.address": "\(host):\(port)",
            ])
            return answer
        }
        if !unknownTo.isEmpty {
            let others = failures.isEmpty ? "" : "; not reachable: " + failures.joined(separator: "; ")
            throw RedisError(
                .unknownMaster,
                "no sentinel knows a master named '\(sentinel.masterName)' (asked \(unknownTo.map(\.description).joined(separator: ", "))\(others))",
                command: "SENTINEL")
        }
        throw RedisError(.noSentinel, "no sentinel reachable: " + failures.joined(separator: "; "), command: "SENTINEL")
    }
}

extension RedisCommand {
    /// `SENTINEL get-master-addr-by-name name` — https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
    static func sentinelMasterAddress(_ masterName: String) -> Self {
        RedisCommand("SENTINEL", ["get-master-addr-by-name", masterName])
    }

    /// `ROLE` — https://redis.io/commands/role
    static func role() -> Self { RedisCommand("ROLE") }
}
