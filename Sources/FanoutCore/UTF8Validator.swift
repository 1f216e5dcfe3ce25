/// Validates UTF-8 incrementally, so a text message split over several frames is checked as the
/// frames arrive and an invalid one is refused at the first bad byte (Autobahn 6.x "fail fast"),
/// without joining the frames first.
///
/// Björn Höhrmann's DFA (http://bjoern.hoehrmann.de/utf-8/decoder/dfa/): rejects overlong forms,
/// surrogates and code points above U+10FFFF, exactly as `String(validating:)` does
/// (`UTF8ValidatorTests` compares the two on random input). The edge checks client frames with it;
/// the worker checks each text entry's payload once more (an entry can come from anywhere).
public struct UTF8Validator: Sendable {
    private static let accept: UInt8 = 0
    private static let reject: UInt8 = 12

    private var state: UInt8 = accept

    /// `false` once the bytes seen so far cannot be the start of valid UTF-8.
    public private(set) var isValidSoFar = true

    public init() {}

    /// `true` when everything seen so far is valid and complete (no sequence cut in the middle).
    public var isComplete: Bool { isValidSoFar && state == Self.accept }

    /// Feeds the next bytes; returns `isValidSoFar`.
    @discardableResult
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard isValidSoFar else { return false }
        var state = self.state
        // ASCII runs are the common case: skip them eight bytes at a time while in the accept state.
        var index = 0
        let count = bytes.count
        while index < count {
            if state == Self.accept, index + 8 <= count,
                bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
                continue
            }
            let type = Self.classes[Int(bytes[index])]
            state = Self.transitions[Int(state) + Int(type)]
            if state == Self.reject {
                self.state = state
                isValidSoFar = false
                return false
            }
            index += 1
        }
        self.state = state
        return true
    }

    /// Whether `bytes` are valid, complete UTF-8.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = UTF8Validator()
        validator.feed(bytes)
        return validator.isComplete
    }

    private static let classes: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for byte in 0x80...0x8F { table[byte] = 1 }
        for byte in 0x90...0x9F { table[byte] = 9 }
        for byte in 0xA0...0xBF { table[byte] = 7 }
        for byte in 0xC0...0xC1 { table[byte] = 8 }
        for byte in 0xC2...0xDF { table[byte] = 2 }
        table[0xE0] = 10
        for byte in 0xE1...0xEF { table[byte] = 3 }
        table[0xED] = 4
        table[0xF0] = 11
        for byte in 0xF1...0xF3 { table[byte] = 6 }
        table[0xF4] = 5
        for byte in 0xF5...0xFF { table[byte] = 8 }
        return table
    }()

    private static let transitions: [UInt8] = [
        0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72,
        12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
        12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12,
        12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
        12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12,
        12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
        12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
        12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
        12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    ]
}
