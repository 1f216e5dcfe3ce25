public import NIOCore

/// One stream entry: its ID and its field/value pairs in the order they were added.
public struct StreamEntry: Sendable, Hashable {
    /// The entry ID, `<milliseconds>-<sequence>`.
    public var id: String
    /// Field names with their raw values. Empty for an entry deleted while pending (XREADGROUP / XAUTOCLAIM report those with null fields).
    public var fields: [Field]

    /// A field and its raw bytes.
    public struct Field: Sendable, Hashable {
        /// The name's exact bytes: anyone with `XADD` chooses them, and a copy (a dead letter) must
        /// keep them as they were, not as their lossy UTF-8 reading.
        public var rawName: ByteBuffer
        public var value: ByteBuffer

        /// The name decoded as UTF-8 (invalid bytes become U+FFFD). Made when asked for: lookups by
        /// name compare bytes, so decoding a batch makes no `String` per field.
        public var name: String { String(buffer: rawName) }

        public init(name: String, value: ByteBuffer) {
            self.rawName = ByteBuffer(string: name)
            self.value = value
        }

        /// A field whose name is arbitrary bytes, as Redis returned them.
        public init(rawName: ByteBuffer, value: ByteBuffer) {
            self.rawName = rawName
            self.value = value
        }

        /// Whether the name's bytes are exactly `name`'s UTF-8.
        public func hasName(_ name: String) -> Bool {
            var name = name
            return name.withUTF8 { hasName(utf8: $0) }
        }

        /// Whether the name's bytes are exactly `expected`.
        func hasName(utf8 expected: UnsafeBufferPointer<UInt8>) -> Bool {
            rawName.withUnsafeReadableBytes { actual in actual.elementsEqual(expected) }
        }
    }

    public init(id: String, fields: [Field]) {
        self.id = id
        self.fields = fields
    }

    /// The first value of the field `name`, if present.
    public subscript(_ name: String) -> ByteBuffer? {
        guard let index = index(ofField: name) else { return nil }
        return fields[index].value
    }

    /// The position of the first field named `name`. Compares the names in place: a worker looks up
    /// every field of every entry, and copying each `Field` on the way (`fields.first { … }`) cost
    /// two retains and two releases per field looked at, about a tenth of a worker's CPU.
    public func index(ofField name: String) -> Int? {
        var name = name
        return name.withUTF8 { expected in
            fields.withUnsafeBufferPointer { fields in
                for index in fields.indices where fields[index].hasName(utf8: expected) { return index }
                return nil
            }
        }
    }

    /// Decodes `[id, [field, value, …]]`.
    public init(_ value: RedisValue) throws(RedisError) {
        guard case .array(let parts) = value, parts.count == 2, let id = parts[0].string else {
            throw RedisError(.unexpectedReply, "stream entry: expected [id, fields], got \(value)")
        }
        self.id = id
        self.fields = []
        guard case .array(let flat) = parts[1] else { return }  // null: deleted while pending
        guard flat.count % 2 == 0 else { throw RedisError(.unexpectedReply, "stream entry \(id): odd field count") }
        fields.reserveCapacity(flat.count / 2)
        var index = 0
        while index < flat.count {
            let name = flat[index].bytes ?? ByteBuffer()
            let value = flat[index + 1].bytes ?? ByteBuffer()
            fields.append(Field(rawName: name, value: value))
            index += 2
        }
    }

    /// Decodes an XREADGROUP / XREAD reply for one stream: `[[key, [entry …]]]`, or null when the block timed out.
    ///
    /// The worker's reads do not come through here: `ReplyTape.takeStreamRead` builds their entries
    /// straight off the parser's tape (no value tree), and falls back to this for any other shape.
    /// `StreamReadDecodingTests` holds the two to the same answers.
    public static func decodeRead(_ value: RedisValue) throws(RedisError) -> [StreamEntry] {
        guard case .array(let streams) = value else { return [] }
        var entries: [StreamEntry] = []
        for stream in streams {
            guard case .array(let pair) = stream, pair.count == 2, case .array(let items) = pair[1] else {
                throw RedisError(.unexpectedReply, "XREADGROUP: expected [key, entries]")
            }
            entries.reserveCapacity(entries.count + items.count)
            for item in items { entries.append(try StreamEntry(item)) }
        }
        return entries
    }

    /// An XREADGROUP / XREAD reply as a result: its entries, an error reply as a `.server` failure,
    /// or a reply of the wrong shape as `.unexpectedReply`, each naming `command`.
    static func readResult(_ value: RedisValue, command: String) -> Result<[StreamEntry], RedisError> {
        if case .error(let message) = value { return .failure(RedisError(.server, message, command: command)) }
        return Result { () throws(RedisError) in try decodeRead(value) }.mapError { $0.with(command: command) }
    }

    /// Decodes an XRANGE reply: `[entry …]`.
    public static func decodeRange(_ value: RedisValue) throws(RedisError) -> [StreamEntry] {
        guard case .array(let items) = value else { return [] }
        var entries: [StreamEntry] = []
        for item in items { entries.append(try StreamEntry(item)) }
        return entries
    }
}

/// The reply of XAUTOCLAIM: entries now owned by the caller, where to continue, and IDs that no longer exist.
public struct AutoClaimResult: Sendable, Hashable {
    /// Pass as `start` to the next call; `0-0` when the scan is complete.
    public var nextStart: String
    /// Entries claimed (their delivery count was incremented).
    public var entries: [StreamEntry]
    /// IDs that were pending but deleted from the stream (Redis 7+); they were removed from the PEL.
    public var deletedIDs: [String]

    public init(_ value: RedisValue) throws(RedisError) {
        guard case .array(let parts) = value, parts.count >= 2, let next = parts[0].string else {
            throw RedisError(.unexpectedReply, "XAUTOCLAIM: expected [next, entries, deleted]", command: "XAUTOCLAIM")
        }
        nextStart = next
        entries = try StreamEntry.decodeRange(parts[1])
        deletedIDs = parts.count > 2 ? (parts[2].array ?? []).compactMap(\.string) : []
    }
}
