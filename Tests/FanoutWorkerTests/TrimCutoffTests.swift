import FanoutRedis
import FanoutWorker
import Testing

/// Where the trimmer may cut a stream, without a server: never at or above anything a group has
/// not processed, and never into the newest `retention` entries.
@Suite struct TrimCutoffTests {
    static func id(_ milliseconds: UInt64, _ sequence: UInt64 = 0) -> StreamID { StreamID(milliseconds: milliseconds, sequence: sequence) }

    /// A stream of entries 1-0 … n-0 (one per millisecond), all of them still there unless `first` says otherwise.
    static func stream(_ count: Int, first: UInt64 = 1, added: Int? = nil) -> TrimCutoff.Stream {
        TrimCutoff.Stream(
            length: count - Int(first) + 1, firstEntry: id(first), lastGenerated: id(UInt64(count)), entriesAdded: added ?? count)
    }

    /// A group that delivered up to `lastDelivered`; its read counter is `read`, by default exact
    /// (entry n is n-0), or none at all with `uncounted` (Redis: a group that never read).
    static func group(
        _ lastDelivered: UInt64, pending: UInt64? = nil, read: Int? = nil, uncounted: Bool = false, name: String = "workers"
    ) -> TrimCutoff.Group {
        TrimCutoff.Group(
            name: name, lastDelivered: id(lastDelivered), oldestPending: pending.map { id($0) },
            entriesRead: uncounted ? nil : read ?? Int(lastDelivered))
    }

    @Test func streamIDsParseCompareAndHaveSuccessors() {
        #expect(StreamID("1526919030474-55") == Self.id(1_526_919_030_474, 55))
        #expect(StreamID("17") == Self.id(17))
        for bad in ["", "-", "a-1", "1-b", "1-2-3", "-1"] { #expect(StreamID(bad) == nil, "\(bad)") }
        #expect(Self.id(5, 9) < Self.id(6, 0) && Self.id(5, 1) < Self.id(5, 2))
        #expect(Self.id(5, 9).successor == Self.id(5, 10))
        #expect(StreamID(milliseconds: 5, sequence: .max).successor == Self.id(6, 0))
        #expect(Self.id(5, 9).description == "5-9")
    }

    @Test func withNoBacklogTheNewestRetentionEntriesAreKept() {
        // 1000 entries, all processed; the newest 100 begin after 900-0.
        let decision = TrimCutoff.decide(
            stream: Self.stream(1000), groups: [Self.group(1000)], groupRequired: true, retention: 100, countMark: Self.id(900).successor)
        #expect(decision == .minID(Self.id(900, 1)))
    }

    @Test func aPendingEntryOlderThanTheRetentionHoldsTheCutAtItself() {
        // Entry 10 was delivered and never acknowledged: nothing from it on may go, however old.
        let decision = TrimCutoff.decide(
            stream: Self.stream(1000), groups: [Self.group(1000, pending: 10)], groupRequired: true, retention: 100,
            countMark: Self.id(900).successor)
        #expect(decision == .minID(Self.id(10)))
        // Once it is the very first entry, there is nothing to trim at all.
        let atFirst = TrimCutoff.decide(
            stream: Self.stream(1000, first: 10), groups: [Self.group(1000, pending: 10)], groupRequired: true, retention: 100,
            countMark: Self.id(900).successor)
        #expect(atFirst == .keepAll)
    }

    @Test func aBacklogIsNeverCut() {
        // Delivered up to 200 only: 201 … 1000 have not been delivered yet.
        let decision = TrimCutoff.decide(
            stream: Self.stream(1000), groups: [Self.group(200)], groupRequired: true, retention: 0, countMark: nil)
        #expect(decision == .minID(Self.id(200).successor))
        // Nothing delivered at all (a new group at 0-0): keep everything.
        let fresh = TrimCutoff.decide(
            stream: Self.stream(1000), groups: [Self.group(0, uncounted: true)], groupRequired: true, retention: 0, countMark: nil)
        #expect(fresh == .keepAll)
    }

    @Test func everyGroupOnTheStreamHoldsItsOwnEntries() {
        let groups = [Self.group(1000), Self.group(300, name: "analytics"), Self.group(900, pending: 500, name: "audit")]
        let decision = TrimCutoff.decide(
            stream: Self.stream(1000), groups: groups, groupRequired: true, retention: 10, countMark: Self.id(990).successor)
        #expect(decision == .minID(Self.id(300).successor))
    }

    @Test func withoutAMarkOldEnoughOnlyZeroRetentionTrims() {
        let groups = [Self.group(1000)]
        #expect(TrimCutoff.decide(stream: Self.stream(1000), groups: groups, groupRequired: true, retention: 100, countMark: nil) == .keepAll)
        #expect(
            TrimCutoff.decide(stream: Self.stream(1000), groups: groups, groupRequired: true, retention: 0, countMark: nil)
                == .minID(Self.id(1000).successor))
    }

    @Test func aStreamWithinItsRetentionIsLeftAlone() {
        let decision = TrimCutoff.decide(
            stream: Self.stream(100), groups: [Self.group(100)], groupRequired: true, retention: 100, countMark: Self.id(1))
        #expect(decision == .keepAll)
    }

    @Test func theAgeRetentionKeepsYoungerEntriesToo() {
        // The count alone would cut at 900; entries from 700 on are younger than the age limit.
        let decision = TrimCutoff.decide(
            stream: Self.stream(1000), groups: [Self.group(1000)], groupRequired: true, retention: 100, countMark: Self.id(900),
            ageCutoff: Self.id(700))
        #expect(decision == .minID(Self.id(700)))
        // An old age limit does not make the count keep fewer.
        let old = TrimCutoff.decide(
            stream: Self.stream(1000), groups: [Self.group(1000)], groupRequired: true, retention: 100, countMark: Self.id(900),
            ageCutoff: Self.id(950))
        #expect(old == .minID(Self.id(900)))
    }

    @Test func withoutAGroupTheInboundStreamIsKeptAndDeadLettersAreCapped() {
        #expect(TrimCutoff.decide(stream: Self.stream(1000), groups: [], groupRequired: true, retention: 10, countMark: Self.id(990)) == .keepAll)
        #expect(TrimCutoff.decide(stream: Self.stream(1000), groups: [], groupRequired: false, retention: 10, countMark: nil) == .maxLength(10))
        #expect(TrimCutoff.decide(stream: Self.stream(5), groups: [], groupRequired: false, retention: 10, countMark: nil) == .keepAll)
    }

    @Test func entriesLostBeforeDeliveryAreCountedFromTheGroupsCounters() {
        // Measured on Redis 7.0: 300 added, 50 delivered, then XTRIM MAXLEN 100 (entries 201 … 300 stay).
        let trimmed = Self.stream(300, first: 201)
        #expect(TrimCutoff.lostBeforeDelivery(stream: trimmed, group: Self.group(50, pending: 1)) == 150)
        // The group then read everything; Redis's counter stayed 150 behind (its lag said 150).
        #expect(TrimCutoff.lostBeforeDelivery(stream: trimmed, group: Self.group(300, read: 150)) == 150)
        // Inside a backlog it cannot be told.
        #expect(TrimCutoff.lostBeforeDelivery(stream: trimmed, group: Self.group(250, read: 100)) == nil)
        // Nothing lost: a group that read all, and a group standing right before the first entry.
        #expect(TrimCutoff.lostBeforeDelivery(stream: trimmed, group: Self.group(300)) == 0)
        #expect(TrimCutoff.lostBeforeDelivery(stream: trimmed, group: Self.group(200)) == 0)
        // A group that never read keeps no counter (Redis: entries-read nil).
        #expect(TrimCutoff.lostBeforeDelivery(stream: trimmed, group: Self.group(0, uncounted: true)) == nil)
        // Entries trimmed after delivery (the trimmer's own work) are not lost.
        #expect(TrimCutoff.lostBeforeDelivery(stream: Self.stream(300, first: 290), group: Self.group(295)) == nil)
        #expect(TrimCutoff.lostBeforeDelivery(stream: Self.stream(300, first: 290), group: Self.group(300)) == 0)
        // An empty stream: all removed; whatever was not read was lost.
        let empty = TrimCutoff.Stream(length: 0, firstEntry: nil, lastGenerated: Self.id(300), entriesAdded: 300)
        #expect(TrimCutoff.lostBeforeDelivery(stream: empty, group: Self.group(280)) == 20)
    }

    @Test func retentionMarksFindTheStartOfTheNewestEntriesWithoutReadingThem() {
        var marks = RetentionMarks(retention: 100)
        #expect(marks.cutoff(added: 50) == nil)
        marks.record(added: 50, lastID: Self.id(50))
        #expect(marks.cutoff(added: 120) == nil)  // only 70 added since the mark
        marks.record(added: 120, lastID: Self.id(120))
        #expect(marks.cutoff(added: 150) == Self.id(50).successor)  // 100 added since 50: keep 51 … 150
        marks.record(added: 400, lastID: Self.id(400))
        marks.forget(before: 400)
        #expect(marks.cutoff(added: 400) == Self.id(120).successor)
        #expect(marks.marks.count <= 2)
        // Marks closer than retention/32 are not kept; a counter that goes back starts over.
        marks.record(added: 401, lastID: Self.id(401))
        #expect(marks.marks.last?.added == 400)
        marks.record(added: 10, lastID: Self.id(900))
        #expect(marks.marks.count == 1 && marks.cutoff(added: 10) == nil)
    }

    @Test func aGroupsProgressLeavesMarksSoADrainedBacklogCanBeTrimmed() {
        // 50,000 entries appended at once, then no more: the stream's own mark sits at its end.
        var marks = RetentionMarks(retention: 100)
        marks.record(added: 50_000, lastID: Self.id(50_000))
        #expect(marks.cutoff(added: 50_000) == nil)
        // Passes during the drain see the group at 10,000, 20,000 …
        for read in stride(from: 10_000, through: 50_000, by: 10_000) {
            marks.record(added: read, lastID: Self.id(UInt64(read)))
            marks.record(added: 50_000, lastID: Self.id(50_000))
            marks.forget(before: read)
        }
        #expect(marks.cutoff(added: 50_000) == Self.id(40_000).successor)
        #expect(marks.marks.count <= 3)
        // A group mark that contradicts the stream's (the stream was made again) starts over.
        marks.record(added: 60_000, lastID: Self.id(10))
        #expect(marks.marks == [RetentionMarks.Mark(added: 60_000, id: Self.id(10))])
    }

    @Test func duringABacklogLongerThanTheRetentionTheCountStartsFromTheReadPosition() {
        // 150,000 appended; the group reads its way through, 1,000 per pass; the retention (100)
        // is counted back from where it has read, so there must be marks just behind it.
        var marks = RetentionMarks(retention: 100)
        for read in stride(from: 1_000, through: 50_000, by: 1_000) {
            marks.record(added: read, lastID: Self.id(UInt64(read)))
            marks.record(added: 150_000, lastID: Self.id(150_000))
            marks.forget(before: read)
            #expect(marks.cutoff(added: read) == (read > 1_000 ? Self.id(UInt64(read - 1_000)).successor : nil), "read \(read)")
        }
        #expect(marks.marks.count <= 3)
    }

    @Test func retentionMarksStayFewUnderAnyLoad() {
        var marks = RetentionMarks(retention: 10_000)
        var added = 0
        for step in 1...100_000 {
            added += step % 7 == 0 ? 5_000 : 40
            marks.record(added: added, lastID: Self.id(UInt64(added)))
            marks.forget(before: added)
            if let cutoff = marks.cutoff(added: added) {
                // Always at least `retention` newer entries, and not many more than a mark spacing or one step.
                let kept = added - Int(cutoff.milliseconds)
                #expect(kept >= 10_000 && kept <= 10_000 + 5_000 + 10_000 / 32 + 1)
            }
        }
        #expect(marks.marks.count <= 40)
    }
}
