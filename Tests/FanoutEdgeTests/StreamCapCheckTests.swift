import FanoutCore
import FanoutEdge
import Testing

/// The start-up check behind "never trim unprocessed entries": the `MAXLEN` cap must stay above
/// the admission high water, or the cap would trim a backlog before the edge refuses.
@Suite struct StreamCapCheckTests {
    static func configuration(_ values: [String: String]) throws -> EdgeConfiguration {
        try EdgeConfiguration(reader: ConfigurationReader(environment: values))
    }

    @Test func theDefaultsPass() throws {
        let configuration = try Self.configuration([:])
        #expect(configuration.overloadHighWater < configuration.maxStreamLength)
    }

    @Test func aHighWaterAtOrAboveTheCapIsRefusedWithOneLine() throws {
        for values in [
            ["FANOUT_MAX_STREAM_LENGTH": "100000"],
            ["FANOUT_OVERLOAD_HIGH_WATER": "2000000"],
            ["FANOUT_MAX_STREAM_LENGTH": "5000", "FANOUT_OVERLOAD_HIGH_WATER": "6000", "FANOUT_OVERLOAD_LOW_WATER": "10"],
        ] {
            let error = #expect(throws: ConfigurationError.self, "\(values)") { try Self.configuration(values) }
            #expect(error?.description.contains("must be below FANOUT_MAX_STREAM_LENGTH") == true)
            #expect(error?.description.contains("\n") == false)
        }
        #expect(throws: Never.self) {
            try Self.configuration(["FANOUT_MAX_STREAM_LENGTH": "5000", "FANOUT_OVERLOAD_HIGH_WATER": "4999", "FANOUT_OVERLOAD_LOW_WATER": "10"])
        }
    }
}
