import FanoutCore
import NIOCore
import NIOWebSocket
import Testing

@testable import FanoutEdge

/// Fragment joining, the size limit and UTF-8 validation, frame by frame (no sockets).
@Suite struct MessageAssemblerTests {
    let allocator = ByteBufferAllocator()

    func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func anUnfragmentedMessagePassesThroughAsItsOwnPayload() {
        var assembler = MessageAssembler(maxBytes: 16)
        let payload = bytes("hello")
        guard case .message(let type, let message) = assembler.receive(.text, fin: true, payload: payload, allocator: allocator) else {
            Issue.record("expected a message")
            return
        }
        #expect(type == .text && message == payload)
    }

    @Test func fragmentsAreJoinedInOrderAndTheNextMessageStartsClean() {
        var assembler = MessageAssembler(maxBytes: 64)
        #expect(assembler.receive(.binary, fin: false, payload: ByteBuffer(bytes: [1, 2]), allocator: allocator).isIncomplete)
        #expect(assembler.receive(.continuation, fin: false, payload: ByteBuffer(bytes: [3]), allocator: allocator).isIncomplete)
        guard case .message(.binary, let joined) = assembler.receive(.continuation, fin: true, payload: ByteBuffer(bytes: [4, 5]), allocator: allocator) else {
            Issue.record("expected the joined message")
            return
        }
        #expect(Array(joined.readableBytesView) == [1, 2, 3, 4, 5])
        guard case .message(.text, _) = assembler.receive(.text, fin: true, payload: bytes("next"), allocator: allocator) else {
            Issue.record("expected a fresh message")
            return
        }
    }

    @Test(arguments: [
        ("a message above the limit in one frame", [(WebSocketOpcode.binary, true, 17)], CloseCode.messageTooBig),
        ("a message above the limit in fragments", [(.binary, false, 10), (.continuation, true, 7)], CloseCode.messageTooBig),
        ("a continuation without a start", [(.continuation, true, 1)], CloseCode.protocolError),
        ("a new message inside a fragmented one", [(.text, false, 1), (.binary, true, 1)], CloseCode.protocolError),
    ])
    func aViolationNamesItsCloseCode(_ name: String, _ frames: [(WebSocketOpcode, Bool, Int)], _ code: UInt16) {
        var assembler = MessageAssembler(maxBytes: 16)
        var last: MessageAssembler.Outcome = .incomplete
        for (opcode, fin, length) in frames {
            last = assembler.receive(opcode, fin: fin, payload: ByteBuffer(repeating: 0x61, count: length), allocator: allocator)
        }
        guard case .violation(let received, _) = last else {
            Issue.record("\(name): no violation")
            return
        }
        #expect(received == code, "\(name)")
    }

    @Test func invalidUTF8FailsAtTheFirstBadFragmentAndACutSequenceAtTheEnd() {
        var failFast = MessageAssembler(maxBytes: 64)
        #expect(failFast.receive(.text, fin: false, payload: bytes("ok "), allocator: allocator).isIncomplete)
        guard case .violation(CloseCode.invalidPayload, _) = failFast.receive(.continuation, fin: false, payload: ByteBuffer(bytes: [0xFF]), allocator: allocator) else {
            Issue.record("0xFF must fail before the message ends")
            return
        }
        // "é" split across two fragments is fine; cut off at the end it is not.
        var split = MessageAssembler(maxBytes: 64)
        #expect(split.receive(.text, fin: false, payload: ByteBuffer(bytes: [0xC3]), allocator: allocator).isIncomplete)
        guard case .message(.text, let text) = split.receive(.continuation, fin: true, payload: ByteBuffer(bytes: [0xA9]), allocator: allocator) else {
            Issue.record("a character split across fragments is valid")
            return
        }
        #expect(String(buffer: text) == "é")
        var cut = MessageAssembler(maxBytes: 64)
        #expect(cut.receive(.text, fin: false, payload: bytes("x"), allocator: allocator).isIncomplete)
        guard case .violation(CloseCode.invalidPayload, _) = cut.receive(.continuation, fin: true, payload: ByteBuffer(bytes: [0xE2, 0x82]), allocator: allocator) else {
            Issue.record("a sequence cut at the message's end is invalid")
            return
        }
    }
}

extension MessageAssembler.Outcome {
    var isIncomplete: Bool {
        if case .incomplete = self { return true }
        return false
    }
}
