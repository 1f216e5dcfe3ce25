import Logging
import NIOPosix
import Testing

@testable import FanoutRedis

@Suite struct RedisConfigurationTests {
    @Test func parsesFullURL() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:p%40ss@redis.example:6380/3")
        #expect(configuration.host == "redis.example")
        #expect(configuration.port == 6380)
        #expect(configuration.username == "alice")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == 3)
    }

    @Test func parsesPasswordOnlyAndDefaults() throws {
        let withPassword = try RedisConfiguration(url: "redis://:secret@127.0.0.1")
        #expect(withPassword.username == nil && withPassword.password == "secret" && withPassword.port == 6379)
        let legacy = try RedisConfiguration(url: "redis://secret@localhost:7000")
        #expect(legacy.password == "secret" && legacy.host == "localhost" && legacy.port == 7000)
        let ipv6 = try RedisConfiguration(url: "redis://[::1]:7001")
        #expect(ipv6.host == "::1" && ipv6.port == 7001)
    }

    @Test(arguments: ["http://localhost", "redis://", "redis://host:notaport", "redis://host:70000", "redis://host/x"])
    func rejectsMalformedURLs(_ url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }

    @Test func neverShowsThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:hunter2@h:1/0")
        #expect(configuration.description == "redis://alice:***@h:1/0")
        do {
            _ = try RedisConfiguration(url: "redis://alice:hunter2@h:bad")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test(arguments: [
        "redis:/alice:hunter2@h:1", "redis//alice:hunter2@h", "alice:hunter2@h:1", "redis:alice:hunter2@h:bad",
        "redis://alice:hunter2@h:bad", "redis:/alice:hun://ter2@h:1", "http://alice:hunter2@h",
    ])
    func aMalformedURLsErrorNeverShowsItsPassword(_ url: String) {
        do {
            _ = try RedisConfiguration(url: url)
            Issue.record("expected \(url) to be rejected")
        } catch {
            #expect(!"\(error)".contains("hunter2") && !"\(error)".contains("hun:"), "\(error)")
            #expect("\(error)".contains("***@h"), "the error still names the host: \(error)")
        }
    }
}

@Suite struct BackoffTests {
    @Test func growsExponentiallyUpToTheMaximum() {
        let backoff = Backoff(initial: .milliseconds(10), maximum: .milliseconds(500), minimum: .milliseconds(1))
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(10))
        #expect(backoff.ceiling(attempt: 3) == .milliseconds(80))
        #expect(backoff.ceiling(attempt: 30) == .milliseconds(500))
        for attempt in 0..<40 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= .milliseconds(1) && delay <= backoff.ceiling(attempt: attempt))
        }
    }
}
