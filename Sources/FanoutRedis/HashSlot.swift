/// A Redis Cluster hash slot: which of the 16384 slots a key (or shard channel) lives in.
///
/// `CRC16(key) mod 16384`, with CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as in the
/// cluster specification (https://redis.io/docs/reference/cluster-spec/#key-distribution-model).
/// A hash tag narrows what is hashed: when the key has a `{` followed later by a `}` with at
/// least one byte between them, only the bytes between the first `{` and the first `}` after it
/// count — so `fanout:inbound:{p0-3}` and anything else tagged `{p0-3}` share a slot.
public struct HashSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Slots in a cluster.
    public static let count = 16384

    /// 0 ..< 16384.
    public let value: Int

    public init(_ value: Int) {
        precondition((0..<Self.count).contains(value), "a hash slot is 0..<16384")
        self.value = value
    }

    /// The slot of a key or channel name.
    public init(key: String) {
        var key = key
        self = key.withUTF8 { HashSlot(bytes: $0) }
    }

    /// The slot of a key given as bytes.
    public init(bytes: UnsafeBufferPointer<UInt8>) {
        var hashed = bytes[...]
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = bytes[(open + 1)..<close]
        }
        self.value = Int(Self.crc16(hashed) & 0x3FFF)
    }

    /// CRC16-CCITT (XMODEM) — the cluster specification's reference function, table-driven.
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index -> UInt16 in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    public static func < (lhs: HashSlot, rhs: HashSlot) -> Bool { lhs.value < rhs.value }

    public var description: String { String(value) }
}
