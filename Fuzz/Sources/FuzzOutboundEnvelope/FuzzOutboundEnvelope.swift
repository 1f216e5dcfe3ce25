// Fuzzes `OutboundEnvelope(decoding:)`: every pub/sub message an edge receives goes through it, and
// anyone who can PUBLISH on a Fanout channel chooses those bytes.
//
// Checks, besides "never crashes": a decoded envelope encodes to bytes that decode to the same
// envelope (decode ∘ encode is the identity on everything the decoder accepts).
import FanoutCore
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let message = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
    guard let envelope = try? OutboundEnvelope(decoding: message) else { return 0 }
    let reencoded = envelope.encode()
    guard let again = try? OutboundEnvelope(decoding: reencoded) else {
        fatalError("an accepted envelope re-encodes to bytes the decoder rejects: \(envelope)")
    }
    precondition(again == envelope, "decode(encode(e)) != e for \(envelope)")
    return 0
}
