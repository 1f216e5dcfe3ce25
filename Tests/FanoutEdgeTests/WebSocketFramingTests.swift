import FanoutCore
import NIOCore
import NIOWebSocket
import Testing

@testable import FanoutEdge

/// Server frames as bytes, and the answers to a client's close frame (RFC 6455 §5.2, §5.5.1, §7.4).
@Suite struct WebSocketFramingTests {
    let allocator = ByteBufferAllocator()

    @Test(arguments: [0, 125, 126, 65535, 65536])
    func framesCarryTheRightLengthEncodingAndNoMask(length: Int) {
        let payload = ByteBuffer(repeating: 0x42, count: length)
        let frame = OutboundFrame(.binary, payload, origin: nil, allocator: allocator)
        var wire = frame.head
        if let tail = frame.tail { wire.writeImmutableBuffer(tail) }
        #expect(wire.readInteger(as: UInt8.self) == 0x82)  // FIN + binary
        let first = wire.readInteger(as: UInt8.self)!
        #expect(first & 0x80 == 0, "servers never mask")
        let decoded: Int = switch first {
        case 126: Int(wire.readInteger(as: UInt16.self)!)
        case 127: Int(wire.readInteger(as: UInt64.self)!)
        default: Int(first)
        }
        #expect(decoded == length)
        #expect(wire.readableBytesView.elementsEqual(payload.readableBytesView))
        #expect(frame.wireBytes == wire.writerIndex)
    }

    @Test func aBroadcastFrameIsOneBufferSharedByEveryWriteNotACopy() {
        let frame = OutboundFrame(.text, ByteBuffer(string: "to everyone"), origin: 7, allocator: allocator)
        let copies = (0..<3).map { _ in frame.head }
        let address = frame.head.withUnsafeReadableBytes { $0.baseAddress }
        #expect(copies.allSatisfy { copy in copy.withUnsafeReadableBytes { $0.baseAddress } == address })
    }

    @Test(arguments: [
        ([UInt8](), CloseCode.normal),
        ([0x03], CloseCode.protocolError),
        ([0x03, 0xE8], UInt16(1000)),
        ([0x0B, 0xB8] + Array("bye".utf8), UInt16(3000)),
        ([0x03, 0xED], CloseCode.protocolError),  // 1005 may not be sent
        ([0x03, 0xEE], CloseCode.protocolError),  // 1006 neither
        ([0x03, 0xE8, 0xFF], CloseCode.invalidPayload),
        ([0x13, 0x88], CloseCode.protocolError),  // 5000
    ])
    func aClientsCloseIsAnsweredWithTheRightCode(payload: [UInt8], expected: UInt16) {
        #expect(CloseCode.answer(toClose: ByteBuffer(bytes: payload)) == expected)
    }
}
