import NIOCore
import Testing

@testable import FanoutRedis

/// `redis-sentinel://` URLs: the sentinels, the master's name, the data nodes' credentials.
@Suite struct SentinelURLTests {
    @Test func parsesSentinelsMasterNameCredentialsAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://alice:p%40ss@10.0.0.1:26379,sentinel-b:26380,[::1]:26381/my.master-1?db=2")
        #expect(configuration.sentinel?.nodes == [
            .init(host: "10.0.0.1", port: 26379), .init(host: "sentinel-b", port: 26380), .init(host: "::1", port: 26381),
        ])
        #expect(configuration.sentinel?.masterName == "my.master-1")
        #expect(configuration.sentinel?.password == nil, "the URL's password is the data nodes', not the sentinels'")
        #expect(configuration.username == "alice" && configuration.password == "p@ss")
        #expect(configuration.database == 2)
    }

    @Test func aSentinelWithoutAPortUses26379() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://s1,s2:5000,[::1]/m")
        #expect(configuration.sentinel?.nodes == [.init(host: "s1", port: 26379), .init(host: "s2", port: 5000), .init(host: "::1", port: 26379)])
        #expect(configuration.database == 0 && configuration.password == nil)
        let passwordOnly = try RedisConfiguration(url: "redis-sentinel://:secret@s1/m")
        #expect(passwordOnly.username == nil && passwordOnly.password == "secret")
    }

    @Test(arguments: [
        "redis-sentinel://s1:26379", "redis-sentinel://s1:26379/", "redis-sentinel:///m", "redis-sentinel://s1,,s2/m",
        "redis-sentinel://s1:0/m", "redis-sentinel://s1:x/m", "redis-sentinel://s1/m?db=-1", "redis-sentinel://s1/m?db=x",
        "redis-sentinel://s1/m?role=replica", "redis-sentinel://s1/my master", "redis-sentinel://s1/a/b", "redis-sentinel://[::1/m",
    ])
    func rejectsMalformedSentinelURLs(_ url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }

    @Test func theRedactedFormNamesEverySentinelButNoPassword() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://alice:hunter2@s1:1,s2:2/m?db=3")
        #expect(configuration.redactedURL == "redis-sentinel://alice:***@s1:1,s2:2/m?db=3")
        #expect("\(configuration)" == configuration.redactedURL)
        do {
            _ = try RedisConfiguration(url: "redis-sentinel://alice:hunter2@s1:1,s2:bad/m")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2") && "\(error)".contains("***@s1:1"), "\(error)")
        }
    }

    @Test func aPlainURLHasNoSentinels() throws {
        #expect(try RedisConfiguration(url: "redis://h:1").sentinel == nil)
    }

    @Test func theWaitCommandCarriesReplicasAndTimeoutAndBlocksThatLong() throws {
        var configuration = RedisConfiguration()
        #expect(ReplicationGate(configuration) == nil, "MIN_REPLICAS 0 sends no WAIT")
        configuration.minReplicas = 2
        configuration.minReplicasTimeout = .milliseconds(750)
        let wait = try #require(ReplicationGate(configuration)).waitCommand
        #expect(wait.name == "WAIT" && wait.arguments.map { String(buffer: $0) } == ["2", "750"])
        #expect(wait.blockingTime == .milliseconds(750))
    }
}
