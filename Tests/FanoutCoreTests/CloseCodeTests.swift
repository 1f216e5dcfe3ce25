import Testing

@testable import FanoutCore

@Suite struct CloseCodeTests {
    @Test func truncatesReasonsToWholeCharactersWithin123Bytes() {
        let reason = String(repeating: "é", count: 100)  // 200 bytes
        let cut = CloseCode.truncated(reason)
        #expect(cut.utf8.count <= 123 && cut.utf8.count >= 122 && reason.hasPrefix(cut))
        #expect(CloseCode.truncated("short") == "short")
    }

    @Test func onlyCodesAnApplicationMaySendAreValid() {
        #expect(CloseCode.isValidToSend(1000) && CloseCode.isValidToSend(4008) && CloseCode.isValidToSend(3000))
        #expect(!CloseCode.isValidToSend(1005) && !CloseCode.isValidToSend(1006) && !CloseCode.isValidToSend(999) && !CloseCode.isValidToSend(5000))
    }
}
