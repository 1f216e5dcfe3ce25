import Testing

@testable import FanoutCore

/// How a join with `since` is decided against the room's history (`RoomJoin.decide`).
@Suite struct RoomJoinTests {
    static let now = StreamPosition(epoch: 5, offset: 30)

    static func decide(_ since: Int64?, epoch: Int64? = 5, oldest: Int64? = 21) -> RoomJoin {
        RoomJoin.decide(since: since.map { RecoveryRequest(offset: $0, epoch: epoch) }, state: HistoryState(position: now, oldest: oldest))
    }

    @Test func aJoinWithoutSinceStartsAtTheRoomsOffset() {
        #expect(Self.decide(nil) == RoomJoin(start: Self.now, roomPosition: Self.now, recovered: nil, reason: nil))
    }

    @Test(arguments: [Int64(20), 25, 30])
    func aSinceTheHistoryCoversRecoversFromThere(since: Int64) {
        #expect(Self.decide(since) == RoomJoin(start: StreamPosition(epoch: 5, offset: since), roomPosition: Self.now, recovered: true, reason: nil))
    }

    @Test func withoutAnEpochTheOffsetsDecide() {
        #expect(Self.decide(25, epoch: nil).recovered == true)
    }

    @Test(arguments: [
        (Int64(19), Int64?(5), Int64?(21), RoomJoin.Reason.trimmed),
        (0, 5, 21, .trimmed),
        (25, 4, 21, .epochChanged),
        (31, 5, 21, .unknownOffset),
        (-1, 5, 21, .unknownOffset),
        (25, 5, nil, .expired),
    ])
    func whatCannotBeRecoveredSaysWhy(since: Int64, epoch: Int64?, oldest: Int64?, reason: RoomJoin.Reason) {
        #expect(Self.decide(since, epoch: epoch, oldest: oldest) == RoomJoin(start: Self.now, roomPosition: Self.now, recovered: false, reason: reason))
    }

    @Test func nothingMissedRecoversEvenWhenTheHistoryExpired() {
        #expect(Self.decide(30, oldest: nil).recovered == true)
    }
}
