import FanoutCore
import FanoutTesting
import Testing

/// The one-pass ID validation against the rules written out plainly, on random and edge-case strings.
@Suite struct IdentifierValidationTests {
    static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".utf8)

    static func referenceEdge(_ value: String) -> Bool {
        (1...64).contains(value.utf8.count) && value.utf8.allSatisfy(allowed.contains) && !value.contains(".")
    }

    static func referenceConnection(_ value: String) -> Bool {
        guard (1...128).contains(value.utf8.count), value.utf8.allSatisfy(allowed.contains), let dot = value.firstIndex(of: ".") else {
            return false
        }
        return referenceEdge(String(value[..<dot])) && value.index(after: dot) < value.endIndex
    }

    @Test func edgeAndConnectionIDsFollowTheirRules() {
        var random = SeededRandom(seed: 0x1D)
        var samples = ["", ".", "a.", ".a", "a.b", "e1.AAAA", String(repeating: "a", count: 64) + ".x", String(repeating: "a", count: 65) + ".x",
                       "a.b.c", "a b.c", "é.x", "a:b.c", String(repeating: "x", count: 127) + ".", "-", "a.-"]
        for _ in 0..<20_000 { samples.append(random.string(0...140, from: "ab.-_Z9:é ")) }
        for sample in samples {
            #expect((EdgeID(sample) != nil) == Self.referenceEdge(sample), "edge \(sample)")
            #expect((ConnectionID(sample) != nil) == Self.referenceConnection(sample), "connection \(sample)")
        }
    }
}
