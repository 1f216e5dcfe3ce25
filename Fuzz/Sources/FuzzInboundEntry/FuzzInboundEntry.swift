// Fuzzes `InboundEntry(StreamEntry)`: workers decode every inbound stream entry with it, and anyone
// who can `XADD` to the stream (redis-cli included) chooses the fields.
//
// Input format, so seeds stay readable and mutations stay meaningful: one field per line
// (`\n`-separated), `name=value`, split at the first `=`; a line without `=` is a field with an
// empty value. Field order and duplicates are kept, as XREADGROUP returns them. The empty input is
// an entry with no fields (deleted while pending).
//
// Checks, besides "never crashes": an accepted entry's own `fields` decode to an equal entry
// (the edge's encoding and the worker's decoding agree on everything the decoder accepts).
import FanoutCore
import FanoutRedis
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    var fields: [StreamEntry.Field] = []
    if count > 0 {
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let name: Slice<UnsafeRawBufferPointer>
            var value = ByteBuffer()
            if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                name = line[line.startIndex..<equals]
                value.writeBytes(line[(equals + 1)...])
            } else {
                name = line
            }
            fields.append(StreamEntry.Field(name: String(decoding: name, as: UTF8.self), value: value))
        }
    }
    let entry = StreamEntry(id: "1-0", fields: fields)
    guard let decoded = try? InboundEntry(entry) else { return 0 }
    let reencoded = StreamEntry(id: "1-0", fields: decoded.fields.map { StreamEntry.Field(name: $0.0, value: $0.1) })
    guard let again = try? InboundEntry(reencoded) else {
        fatalError("an accepted entry's own fields are rejected: kind \(decoded.kind), type \(decoded.frameType)")
    }
    precondition(again == decoded, "InboundEntry(entry.fields) != entry")
    return 0
}
