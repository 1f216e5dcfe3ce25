import FanoutTesting
import Testing

@testable import FanoutCore

/// The incremental DFA against Swift's own UTF-8 validation, on random and tricky bytes, whole and
/// split at every point.
@Suite struct UTF8ValidatorTests {
    static func swiftSays(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    static func validator(_ bytes: [UInt8], splitAt split: Int) -> Bool {
        var validator = UTF8Validator()
        bytes[..<split].withUnsafeBytes { _ = validator.feed($0) }
        bytes[split...].withUnsafeBytes { _ = validator.feed($0) }
        return validator.isComplete
    }

    @Test func agreesWithSwiftOnTrickySequences() {
        let cases: [[UInt8]] = [
            [], Array("plain ascii that is longer than eight bytes".utf8), [0xC0, 0x80], [0xC2, 0x80], [0xE0, 0x80, 0x80], [0xE0, 0xA0, 0x80],
            [0xED, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5],
            Array("12345678é".utf8), Array("1234567é8".utf8),
        ]
        for bytes in cases {
            for split in 0...bytes.count {
                #expect(Self.validator(bytes, splitAt: split) == Self.swiftSays(bytes), "\(bytes) split at \(split)")
            }
        }
    }

    @Test func agreesWithSwiftOnRandomBytes() {
        var random = SeededRandom(seed: 0x0717_8)
        for _ in 0..<20_000 {
            let bytes: [UInt8] = random.chance(0.5)
                ? Array(random.text(0...24).utf8).map { random.chance(0.05) ? UInt8.random(in: 0...255, using: &random) : $0 }
                : random.bytes(Int.random(in: 0...12, using: &random))
            let split = Int.random(in: 0...bytes.count, using: &random)
            #expect(Self.validator(bytes, splitAt: split) == Self.swiftSays(bytes), "\(bytes) split at \(split)")
        }
    }
}
