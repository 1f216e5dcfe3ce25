/// The characters every identifier that becomes part of a Redis key or channel may use.
///
/// No `:` (the key separator), no glob characters, no spaces: a validated ID can be spliced into
/// a key name and into the pub/sub envelope header without escaping.
enum IdentifierRules {
    static func isValid(_ value: String, maxLength: Int = 128) -> Bool {
        scan(value, maxLength: maxLength).valid
    }

    /// One pass over the bytes (IDs are validated for every stream entry a worker decodes): whether
    /// `value` is 1…`maxLength` allowed bytes, and the offset of its first `.`, if any.
    static func scan(_ value: String, maxLength: Int) -> (valid: Bool, firstDot: Int?) {
        let scanned = value.utf8.withContiguousStorageIfAvailable { scan($0, maxLength: maxLength) }
        return scanned ?? scan(Array(value.utf8), maxLength: maxLength)
    }

    private static func scan(_ bytes: some RandomAccessCollection<UInt8>, maxLength: Int) -> (valid: Bool, firstDot: Int?) {
        guard !bytes.isEmpty, bytes.count <= maxLength else { return (false, nil) }
        var firstDot: Int?
        var offset = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                break
            case UInt8(ascii: "."):
                if firstDot == nil { firstDot = offset }
            default:
                return (false, nil)
            }
            offset += 1
        }
        return (true, firstDot)
    }
}

/// Identifies one edge process. Chosen at start (`--edge-id`, or generated) and part of every connection ID it issues.
public struct EdgeID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Validates `rawValue`: 1–64 of `[A-Za-z0-9_-]` (no `.`, which separates it from the random part of a connection ID).
    public init?(_ rawValue: String) {
        let scan = IdentifierRules.scan(rawValue, maxLength: 64)
        guard scan.valid, scan.firstDot == nil else { return nil }
        self.rawValue = rawValue
    }

    /// A fresh random edge ID, `e` + 8 hex digits.
    public static func generate() -> EdgeID {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt32
        let hex = String(value, radix: 16)
        return EdgeID("e" + String(repeating: "0", count: 8 - hex.count) + hex)!
    }

    public var description: String { rawValue }
}

/// Identifies one WebSocket connection, `<edgeID>.<22 URL-safe base64 characters>` (128 random bits): unguessable,
/// so knowing a connection ID is needed to address it, and it names the edge that owns it.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Validates `rawValue`: 1–128 of `[A-Za-z0-9._-]`, shaped `<edge ID>.<non-empty suffix>`.
    /// (The shape also keeps `-`, the envelope's "none" marker, from ever being a connection ID.)
    public init?(_ rawValue: String) {
        // `<edge ID>.<suffix>`: the part before the first `.` is a valid edge ID (1–64 bytes, no
        // `.`), and the suffix is not empty.
        let scan = IdentifierRules.scan(rawValue, maxLength: 128)
        guard scan.valid, let dot = scan.firstDot, dot >= 1, dot <= 64, dot < rawValue.utf8.count - 1 else { return nil }
        self.rawValue = rawValue
    }

    /// A new connection ID on `edge` with 128 bits from the system's secure random source.
    public static func generate(on edge: EdgeID) -> ConnectionID {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for _ in 0..<2 {
            let word = generator.next() as UInt64
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return ConnectionID("\(edge.rawValue).\(Base64URL.encode(bytes))")!
    }

    /// The edge that issued this ID (the part before the first `.`).
    public var edge: EdgeID? {
        guard let dot = rawValue.firstIndex(of: ".") else { return nil }
        return EdgeID(String(rawValue[..<dot]))
    }

    public var description: String { rawValue }
}

/// A room name: 1–128 of `[A-Za-z0-9._-]`.
public struct RoomName: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ rawValue: String) {
        guard IdentifierRules.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
}

/// An authenticated user's ID (the JWT `sub`): 1–128 of `[A-Za-z0-9._-]`.
public struct UserID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ rawValue: String) {
        guard IdentifierRules.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
}

/// Unpadded URL-safe base64 (RFC 4648 §5), for random identifiers.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { output.append(alphabet[Int((chunk >> UInt32(shift)) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let chunk = UInt32(bytes[index]) << 16
            output.append(alphabet[Int((chunk >> 18) & 63)])
            output.append(alphabet[Int((chunk >> 12) & 63)])
        } else if rest == 2 {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            output.append(alphabet[Int((chunk >> 18) & 63)])
            output.append(alphabet[Int((chunk >> 12) & 63)])
            output.append(alphabet[Int((chunk >> 6) & 63)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
