import FanoutCore
import FanoutEdge
import Testing

/// `FANOUT_APPEND_ONE_WRITE`, `FANOUT_APPEND_LINGER_US` and `FANOUT_LINGER_ADAPTIVE`: how the edge
/// paces its XADD writes (decisions 0045, 0046), read from the environment with one-line answers
/// for bad values.
@Suite struct AppendWriteSettingsTests {
    static func configuration(_ values: [String: String]) throws -> EdgeConfiguration {
        try EdgeConfiguration(reader: ConfigurationReader(environment: values))
    }

    @Test func oneWriteInFlightIsOnByDefaultAndCanBeTurnedOff() throws {
        #expect(try Self.configuration([:]).appendOneWriteInFlight)
        #expect(try Self.configuration([:]).appendLinger == .zero)
        for off in ["false", "0", "no", "OFF"] {
            #expect(try !Self.configuration(["FANOUT_APPEND_ONE_WRITE": off]).appendOneWriteInFlight, "\(off)")
        }
        #expect(try Self.configuration(["FANOUT_APPEND_ONE_WRITE": "true"]).appendOneWriteInFlight)
        #expect(try Self.configuration(["FANOUT_APPEND_LINGER_US": "500"]).appendLinger == .microseconds(500))
    }

    @Test func theLingerAdaptsByDefaultAndCanBeMadeFixed() throws {
        #expect(try Self.configuration([:]).lingerAdapts)
        #expect(try !Self.configuration(["FANOUT_LINGER_ADAPTIVE": "false"]).lingerAdapts)
        let error = #expect(throws: ConfigurationError.self) { try Self.configuration(["FANOUT_LINGER_ADAPTIVE": "maybe"]) }
        #expect(error?.description == "FANOUT_LINGER_ADAPTIVE: expected true or false, got 'maybe'")
    }

    @Test func aValueThatIsNotABooleanIsRefusedWithOneLine() throws {
        let error = #expect(throws: ConfigurationError.self) { try Self.configuration(["FANOUT_APPEND_ONE_WRITE": "sometimes"]) }
        #expect(error?.description == "FANOUT_APPEND_ONE_WRITE: expected true or false, got 'sometimes'")
        #expect(throws: ConfigurationError.self) { try Self.configuration(["FANOUT_APPEND_LINGER_US": "100001"]) }
    }
}
