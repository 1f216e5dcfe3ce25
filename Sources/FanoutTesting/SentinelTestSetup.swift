public import FanoutRedis
import Foundation
import Synchronization

/// A master, its replicas and three sentinels on free ports, for failover tests: what an
/// operator runs in production, small timeouts aside (`down-after-milliseconds` 1000,
/// `failover-timeout` 3000), so a `kill -9` of the master is followed by a promotion in ~2 s.
public struct SentinelTestSetup: Sendable {
    /// The name the sentinels monitor the master under.
    public let masterName: String
    /// The data nodes; `servers[0]` is the master at start.
    public let servers: [RedisTestServer]
    public let sentinels: [SentinelTestServer]
    /// The data nodes' password, if any.
    public let password: String?

    /// `redis-sentinel://[:password@]127.0.0.1:<p1>,…/<masterName>`.
    public var url: String { url(masterName: masterName) }

    /// The same URL with another master name (for the wrong-name test).
    public func url(masterName: String) -> String {
        let auth = password.map { ":\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)@" } ?? ""
        return "redis-sentinel://\(auth)\(sentinels.map(\.address).joined(separator: ","))/\(masterName)"
    }

    /// A client configuration using the sentinels, with short timeouts suited to tests.
    public var configuration: RedisConfiguration {
        var configuration = try! RedisConfiguration(url: url)
        configuration.sentinel?.password = sentinels.first?.password
        configuration.connectTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(3)
        configuration.reconnectBackoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(250))
        return configuration
    }

    /// Starts the master, `replicas` replicas of it and `sentinelCount` sentinels; returns once
    /// every replica is in sync and every sentinel knows every replica and the other sentinels
    /// (before that a failover could not reach its quorum or would have nobody to promote).
    public static func start(
        masterName: String = "fanout-test", replicas: Int = 2, sentinels sentinelCount: Int = 3,
        password: String? = nil, sentinelPassword: String? = nil
    ) async throws -> SentinelTestSetup {
        let auth = password.map { ["--masterauth", $0] } ?? []
        let master = try await RedisTestServer.start(password: password, extraArguments: auth)
        var servers = [master]
        for _ in 0..<replicas {
            servers.append(try await RedisTestServer.start(password: password, extraArguments: auth + ["--replicaof", "127.0.0.1", String(master.port)]))
        }
        var sentinels: [SentinelTestServer] = []
        for _ in 0..<sentinelCount {
            sentinels.append(try await SentinelTestServer.start(
                masterName: masterName, masterPort: master.port, masterPassword: password, password: sentinelPassword))
        }
        let setup = SentinelTestSetup(masterName: masterName, servers: servers, sentinels: sentinels, password: password)
        let state = LastObservation()
        guard await eventually(within: .seconds(30), { await setup.isSettled(replicas: replicas, observed: state) }) else {
            throw TestServerError("sentinel setup did not settle within 30 s (last seen: \(state.value)); sentinel log:\n\(sentinels[0].log.suffix(1500))")
        }
        return setup
    }

    private func isSettled(replicas: Int, observed: LastObservation) async -> Bool {
        for sentinel in sentinels {
            let known = (try? await sentinel.send(RedisCommand("SENTINEL", ["replicas", masterName])))?.array ?? []
            let peers = (try? await sentinel.send(RedisCommand("SENTINEL", ["sentinels", masterName])))?.array ?? []
            let inSync = known.filter { Self.field("master-link-status", in: $0) == "ok" && Self.field("flags", in: $0) == "slave" }
            observed.set("sentinel \(sentinel.port): \(inSync.count)/\(replicas) replicas in sync, \(peers.count) peers")
            if inSync.count < replicas || peers.count < sentinels.count - 1 { return false }
        }
        return true
    }

    /// The data node the sentinels name master now (asking each until one answers).
    public func currentMaster() async -> RedisTestServer? {
        for sentinel in sentinels {
            if let port = try? await sentinel.masterPort(masterName) { return servers.first { $0.port == port } }
        }
        return nil
    }

    /// Waits until the sentinels name a master other than `old` and that node says `role:master`.
    public func waitForPromotion(from old: RedisTestServer, within timeout: Duration = .seconds(30)) async -> RedisTestServer? {
        let promoted = LastObservation()
        let done = await eventually(within: timeout) {
            guard let master = await currentMaster(), master.port != old.port else { return false }
            let role = try? await RedisClient.withTestClient(master) { try await $0.send(RedisCommand("ROLE")) }
            guard role?.array?.first?.string == "master" else { return false }
            promoted.set(String(master.port))
            return true
        }
        guard done, let port = Int(promoted.value) else { return nil }
        return servers.first { $0.port == port }
    }

    /// One field of a `SENTINEL replicas` entry (a flat name/value array).
    static func field(_ name: String, in entry: RedisValue) -> String? {
        guard let parts = entry.array else { return nil }
        var index = 0
        while index + 1 < parts.count {
            if parts[index].string == name { return parts[index + 1].string }
            index += 2
        }
        return nil
    }
}

/// The last value a polled condition saw, for failure messages.
final class LastObservation: Sendable {
    private let storage = Mutex("")
    func set(_ value: String) { storage.withLock { $0 = value } }
    var value: String { storage.withLock { $0 } }
}
