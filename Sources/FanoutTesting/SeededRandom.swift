/// A deterministic random number generator (SplitMix64) for property tests and generated test
/// data: the same seed gives the same sequence on every run and platform, so a failure names the
/// seed that reproduces it.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    /// `true` with probability `probability`.
    public mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &self) < probability
    }

    /// A random string of `length` characters drawn from `alphabet`.
    public mutating func string(_ length: ClosedRange<Int>, from alphabet: String) -> String {
        let characters = Array(alphabet)
        return String((0..<Int.random(in: length, using: &self)).map { _ in characters.randomElement(using: &self)! })
    }

    /// Random valid UTF-8 text (ASCII, 2-, 3- and 4-byte characters, controls, quotes, backslashes).
    public mutating func text(_ length: ClosedRange<Int>) -> String {
        let pool: [Character] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\t", "\u{0}", "{", "}", ":", ",", "-", "é", "€", "😀", "\u{FFFD}"]
        return String((0..<Int.random(in: length, using: &self)).map { _ in pool.randomElement(using: &self)! })
    }

    /// `bytes` with one to four random edits: a changed, inserted or deleted byte, a byte that
    /// matters to some format (separators, digits, NUL, 0xFF), a duplicated or removed run, a cut.
    public mutating func mutated(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        let special: [UInt8] = Array("\r\n \0,-:*$+=.0123456789\"{}[]\\".utf8) + [0x80, 0xC3, 0xFF]
        for _ in 0..<Int.random(in: 1...4, using: &self) {
            let index = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &self)
            switch Int.random(in: 0..<7, using: &self) {
            case 0 where !bytes.isEmpty: bytes[index] = UInt8.random(in: 0...255, using: &self)
            case 1 where !bytes.isEmpty: bytes[index] = special.randomElement(using: &self)!
            case 2: bytes.insert(special.randomElement(using: &self)!, at: index)
            case 3: bytes.insert(contentsOf: self.bytes(Int.random(in: 1...8, using: &self)), at: index)
            case 4 where !bytes.isEmpty: bytes.removeSubrange(index..<min(bytes.count, index + Int.random(in: 1...8, using: &self)))
            case 5 where !bytes.isEmpty: bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + Int.random(in: 1...16, using: &self))], at: index)
            case 6 where !bytes.isEmpty: bytes.removeSubrange(index...)
            default: bytes.append(special.randomElement(using: &self)!)
            }
        }
        return bytes
    }
}
