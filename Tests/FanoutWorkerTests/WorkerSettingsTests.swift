import FanoutCore
import FanoutRedis
import FanoutWorker
import Logging
import NIOCore
import Testing

/// The settings behind several workers on one host (`FANOUT_METRICS_PORT` ranges), the batch
/// linger, trimming and the `delay` handler, without a server.
@Suite struct WorkerSettingsTests {
    static func configuration(_ values: [String: String]) throws -> WorkerConfiguration {
        try WorkerConfiguration(reader: ConfigurationReader(environment: values))
    }

    @Test func metricsPortIsARangeByDefaultAndAcceptsAPortOrARange() throws {
        #expect(try Self.configuration([:]).metricsPorts == 9090...9099)
        #expect(try Self.configuration(["FANOUT_METRICS_PORT": "9191"]).metricsPorts == 9191...9191)
        #expect(try Self.configuration(["FANOUT_METRICS_PORT": "9300-9304"]).metricsPorts == 9300...9304)
        #expect(try Self.configuration(["FANOUT_METRICS_PORT": "0"]).metricsPort == 0)
        for bad in ["9099-9090", "x", "9090-", "-1", "70000", "0-5", "1-2-3"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try Self.configuration(["FANOUT_METRICS_PORT": bad]) }
        }
    }

    @Test func theBatchLingerIsOffByDefaultAndAdaptsWhenSet() throws {
        let defaults = try Self.configuration([:])
        #expect(defaults.batchLinger == .zero && defaults.lingerAdapts)
        let fixed = try Self.configuration(["FANOUT_BATCH_LINGER_MS": "2", "FANOUT_LINGER_ADAPTIVE": "off"])
        #expect(fixed.batchLinger == .milliseconds(2) && !fixed.lingerAdapts)
        let error = #expect(throws: ConfigurationError.self) { try Self.configuration(["FANOUT_LINGER_ADAPTIVE": "2"]) }
        #expect(error?.description == "FANOUT_LINGER_ADAPTIVE: expected true or false, got '2'")
    }

    @Test func trimSettingsHaveDefaultsAndRanges() throws {
        let defaults = try Self.configuration([:])
        #expect(defaults.streamRetention == 10_000 && defaults.streamRetentionAge == nil)
        #expect(defaults.deadLetterRetention == 100_000 && defaults.trimInterval == .seconds(1))
        let set = try Self.configuration([
            "FANOUT_STREAM_RETENTION": "0", "FANOUT_STREAM_RETENTION_MS": "60000", "FANOUT_DEAD_LETTER_RETENTION": "500",
            "FANOUT_TRIM_INTERVAL_MS": "0",
        ])
        #expect(set.streamRetention == 0 && set.streamRetentionAge == .seconds(60))
        #expect(set.deadLetterRetention == 500 && set.trimInterval == .zero)
        for (key, bad) in [
            ("FANOUT_STREAM_RETENTION", "-1"), ("FANOUT_STREAM_RETENTION_MS", "0"),
            ("FANOUT_DEAD_LETTER_RETENTION", "\(WorkerConfiguration.deadLetterGuard)"), ("FANOUT_TRIM_INTERVAL_MS", "x"),
        ] {
            #expect(throws: ConfigurationError.self, "\(key)=\(bad)") { try Self.configuration([key: bad]) }
        }
    }

    @Test func delayHandlerEchoesMessagesAfterItsDelayAndIgnoresOpenAndClose() async throws {
        let configuration = try Self.configuration(["FANOUT_HANDLER": "delay", "FANOUT_DELAY_MS": "20"])
        #expect(configuration.delay == .milliseconds(20))
        let handler = try #require(BuiltInHandlers.handler(named: "delay", configuration: configuration) as? DelayHandler)
        #expect(handler.delay == .milliseconds(20))
        let logger = Logger(label: "fanout.test.delay", factory: { _ in SwiftLogNoOpLogHandler() })
        let redis = RedisClient(configuration: RedisConfiguration(), logger: logger)
        for kind in [InboundEntry.Kind.open, .message, .close] {
            let entry = InboundEntry(
                kind: kind, connection: ConnectionID("delay.connection")!, edge: EdgeID("delay")!, frameType: .text, receivedAt: 1,
                payload: ByteBuffer(string: "ping"))
            let message = InboundMessage(id: "1-0", entry: entry, deliveryCount: 1)
            let context = MessageContext(message: message, keySpace: KeySpace(prefix: "delay"), redis: redis, logger: logger)
            try await handler.handle(message, context: context)
            #expect(context.effects.count == (kind == .message ? 1 : 0), "\(kind)")
        }
    }
}
