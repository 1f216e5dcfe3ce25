public import FanoutRedis
import Foundation

/// A real Redis Cluster for tests: `masters` × (1 + `replicasPerMaster`) `redis-server --cluster-enabled
/// yes` processes on free ports, joined with `redis-cli --cluster create` — what an operator runs,
/// small timeouts aside (`cluster-node-timeout` 1000 ms, so a killed master's replica takes over in
/// ~2 s). `cluster-require-full-coverage no`: while one shard fails over, the others keep serving
/// (Docs/operations.md recommends the same). A missing `redis-server` or `redis-cli` is an error,
/// never a skipped test.
public struct RedisClusterTestSetup: Sendable {
    /// Masters first (in slot order: `servers[0]` serves slot 0 at start), then the replicas.
    public let servers: [RedisTestServer]
    /// How many of `servers` were created as masters.
    public let masterCount: Int

    /// `redis-cluster://127.0.0.1:<p1>,…` naming every node as a seed.
    public var url: String { "redis-cluster://" + servers.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") }

    /// A client configuration for the cluster, with short timeouts suited to tests.
    public var configuration: RedisConfiguration {
        var configuration = try! RedisConfiguration(url: url)
        configuration.connectTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(3)
        configuration.reconnectBackoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(250))
        return configuration
    }

    /// Starts the nodes, creates the cluster, and returns once every node agrees that every slot is
    /// served (`cluster_state:ok`, every node known) and every replica is in sync with its master.
    public static func start(masters: Int = 3, replicasPerMaster: Int = 0) async throws -> RedisClusterTestSetup {
        var servers: [RedisTestServer] = []
        for _ in 0..<(masters * (1 + replicasPerMaster)) {
            servers.append(try await RedisTestServer.start(extraArguments: [
                "--cluster-enabled", "yes", "--cluster-port", String(try RedisTestServer.freePort()),
                "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
            ]))
        }
        let create = try await RedisCLI.runTool(
            ["--cluster", "create"] + servers.map { "127.0.0.1:\($0.port)" }
                + ["--cluster-replicas", String(replicasPerMaster), "--cluster-yes"], timeout: .seconds(60))
        guard create.code == 0 else { throw TestServerError("redis-cli --cluster create failed:\n\(create.text.suffix(2000))") }
        let setup = RedisClusterTestSetup(servers: servers, masterCount: masters)
        let observed = LastObservation()
        guard await eventually(within: .seconds(30), { await setup.isSettled(observed) }) else {
            throw TestServerError("the cluster did not settle within 30 s (last seen: \(observed.value))")
        }
        return setup
    }

    private func isSettled(_ observed: LastObservation) async -> Bool {
        for server in servers {
            guard let info = try? await Self.send(RedisCommand("CLUSTER", ["INFO"]), to: server).string else {
                observed.set("\(server.port): no answer")
                return false
            }
            guard info.contains("cluster_state:ok"), info.contains("cluster_known_nodes:\(servers.count)") else {
                observed.set("\(server.port): \(info.split(separator: "\r\n").prefix(6).joined(separator: " "))")
                return false
            }
            let role = (try? await Self.send(RedisCommand("ROLE"), to: server))?.array ?? []
            if role.first?.string == "slave", role.count > 3, role[3].string != "connected" {
                observed.set("\(server.port): replica link \(role[3].string ?? "?")")
                return false
            }
        }
        return true
    }

    /// The node serving `slot`, as a live node tells it now.
    public func master(serving slot: HashSlot) async -> RedisTestServer? {
        for server in servers where RedisTestServer.acceptsConnections(port: server.port) {
            guard let reply = try? await Self.send(RedisCommand("CLUSTER", ["SLOTS"]), to: server),
                let map = try? ClusterSlotMap(slotsReply: reply, queried: RedisAddress(host: "127.0.0.1", port: server.port)),
                let address = map.address(for: slot)
            else { continue }
            return servers.first { $0.port == address.port }
        }
        return nil
    }

    /// `CLUSTER MYID` of `server`.
    public func nodeID(of server: RedisTestServer) async throws -> String {
        guard let id = try await Self.send(RedisCommand("CLUSTER", ["MYID"]), to: server).string else {
            throw TestServerError("CLUSTER MYID gave no ID")
        }
        return id
    }

    /// Waits until a node other than `old` serves `slot` and says it is a master; returns it.
    public func waitForPromotion(of slot: HashSlot, from old: RedisTestServer, within timeout: Duration = .seconds(30)) async -> RedisTestServer? {
        let promoted = LastObservation()
        let done = await eventually(within: timeout) {
            guard let master = await master(serving: slot), master.port != old.port,
                (try? await Self.send(RedisCommand("ROLE"), to: master))?.array?.first?.string == "master"
            else { return false }
            promoted.set(String(master.port))
            return true
        }
        guard done, let port = Int(promoted.value) else { return nil }
        return servers.first { $0.port == port }
    }

    /// `redis-cli --cluster reshard`: moves `slots` slots (the lowest-numbered ones `from` serves)
    /// to `to`, keys and all, as an operator does. Returns redis-cli's output.
    @discardableResult
    public func reshard(slots: Int, from: RedisTestServer, to: RedisTestServer) async throws -> String {
        let result = try await RedisCLI.runTool(
            ["--cluster", "reshard", "127.0.0.1:\(from.port)", "--cluster-from", try await nodeID(of: from),
             "--cluster-to", try await nodeID(of: to), "--cluster-slots", String(slots), "--cluster-yes"],
            timeout: .seconds(120))
        guard result.code == 0 else { throw TestServerError("redis-cli --cluster reshard failed:\n\(result.text.suffix(2000))") }
        return result.text
    }

    /// Sends one command to one node, on a short connection of its own.
    public static func send(_ command: RedisCommand, to server: RedisTestServer) async throws -> RedisValue {
        try await RedisClient.withTestClient(server) { try await $0.send(command) }
    }
}

extension RedisCLI {
    /// Runs `redis-cli arguments…` (a tool mode such as `--cluster create`) to completion.
    public static func runTool(_ arguments: [String], timeout: Duration) async throws -> Output {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-redis-cli-\(UUID().uuidString.prefix(8)).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess(executable: try executable(), arguments: arguments, outputPath: output.path)
        guard let code = await process.waitForExit(timeout: timeout) else {
            process.send(SIGKILL)
            throw TimedOut(what: "redis-cli \(arguments.prefix(2).joined(separator: " "))", after: timeout)
        }
        return Output(code: code, text: (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }
}
