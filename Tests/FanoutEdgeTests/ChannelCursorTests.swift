import FanoutCore
import Testing

@testable import FanoutEdge

/// The rules of gap-free delivery on one event loop (`ChannelCursor`), without I/O.
@Suite struct ChannelCursorTests {
    static func at(_ offset: Int64, epoch: Int64 = 7) -> StreamPosition { StreamPosition(epoch: epoch, offset: offset) }

    @Test func consecutiveOffsetsAreDeliveredAndRepeatsDropped() {
        var cursor = ChannelCursor(position: Self.at(3))
        #expect(cursor.live(Self.at(4)) == .deliver)
        #expect(cursor.live(Self.at(5)) == .deliver)
        #expect(cursor.live(Self.at(5)) == .duplicate)
        #expect(cursor.live(Self.at(2)) == .duplicate)
        #expect(cursor.position == Self.at(5))
    }

    @Test func aGapStartsAFillAndEverythingLiveWaitsBehindIt() {
        var cursor = ChannelCursor(position: Self.at(3))
        #expect(cursor.live(Self.at(6)) == .gap(after: 3))
        #expect(cursor.isFilling)
        #expect(cursor.live(Self.at(7)) == .hold)
        // The fill delivers 4…6 from history; 6 arrived live too and is a duplicate then.
        #expect(cursor.fromHistory(Self.at(4)) == .deliver)
        #expect(cursor.fromHistory(Self.at(5)) == .deliver)
        #expect(cursor.fromHistory(Self.at(6)) == .deliver)
        cursor.endFill()
        #expect(cursor.live(Self.at(6)) == .duplicate)
        #expect(cursor.live(Self.at(7)) == .deliver)
    }

    @Test func historyThatNoLongerHoldsTheNextOffsetIsAGapItCannotFill() {
        var cursor = ChannelCursor(position: Self.at(3))
        cursor.startFill()
        #expect(cursor.fromHistory(Self.at(9)) == .gap(after: 3))
    }

    @Test func anotherEpochMeansTheHistoryWasLost() {
        var cursor = ChannelCursor(position: Self.at(40))
        #expect(cursor.live(Self.at(1, epoch: 8)) == .epochChanged)
        cursor.reset(to: nil)
        #expect(cursor.live(Self.at(1, epoch: 8)) == .deliver)
        #expect(cursor.position == Self.at(1, epoch: 8))
    }

    @Test func theFirstMessageOfAnUnpositionedChannelSetsThePosition() {
        var cursor = ChannelCursor()
        #expect(cursor.live(Self.at(12)) == .deliver)
        #expect(cursor.live(Self.at(13)) == .deliver)
    }
}
