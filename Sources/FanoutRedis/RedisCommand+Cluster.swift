import NIOCore

extension RedisCommand {
    /// The hash slot this command must be sent to in a cluster, from its key (or shard channel);
    /// `nil` for a command without a key (`PING`, `ROLE`, `CLUSTER …`), which any master can answer.
    ///
    /// Fanout sends single-key commands only (multi-key ones name keys of one slot, by hash tags),
    /// so the first key decides; Redis itself refuses a command whose keys span slots (`CROSSSLOT`).
    var hashSlot: HashSlot? {
        guard let index = keyArgumentIndex, index < argumentCount else { return nil }
        return withArgument(index) { HashSlot(bytes: $0) }
    }

    /// The index (in `arguments`) of the key that decides the slot.
    private var keyArgumentIndex: Int? {
        switch name.uppercased() {
        case "PING", "ROLE", "CLUSTER", "INFO", "CLIENT", "AUTH", "SELECT", "HELLO", "WAIT", "ASKING", "READONLY", "PUBSUB",
            "SCRIPT", "FUNCTION", "CONFIG", "DBSIZE", "FLUSHALL", "FLUSHDB", "COMMAND", "MULTI", "EXEC", "DISCARD", "TIME":
            return nil
        case "XINFO", "XGROUP", "OBJECT", "MEMORY":  // subcommand, then the key
            return 1
        case "EVAL", "EVALSHA", "FCALL":  // script, numkeys, key…
            return withArgument(1) { Int(String(decoding: $0, as: UTF8.self)) ?? 0 } > 0 ? 2 : nil
        case "XREAD", "XREADGROUP":  // … STREAMS key… id…
            for index in 0..<argumentCount where withArgument(index, { String(decoding: $0, as: UTF8.self).uppercased() == "STREAMS" }) {
                return index + 1
            }
            return nil
        default:
            return 0
        }
    }

    /// Runs `body` on the bytes of argument `index` (0: the first after the name), in place.
    private func withArgument<Result>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        var offset = 0
        for length in argumentLengths[...index] { offset += length }
        let length = argumentLengths[index + 1]
        return storage.withUnsafeReadableBytes { bytes in
            body(UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[offset..<(offset + length)]))
        }
    }

    /// The same command under another name (`PUBLISH` → `SPUBLISH`): same arguments, byte for byte.
    func renamed(_ newName: String) -> RedisCommand {
        var renamed = RedisCommand(newName, reservingArguments: argumentCount, bytes: storage.readableBytes)
        renamed.blockingTime = blockingTime
        var reader = storage
        reader.moveReaderIndex(forwardBy: argumentLengths[0])
        for length in argumentLengths.dropFirst() {
            renamed.append(reader.readSlice(length: length)!)
        }
        return renamed
    }

    /// `ASKING` — https://redis.io/commands/asking: the next command may touch a slot this node is importing.
    static let asking = RedisCommand("ASKING")
}
