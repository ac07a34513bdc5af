import DefendEvents
import DefendKernel
import DefendPolicy
import Foundation
import Synchronization
import Testing
@testable import DefendAgent

/// A ring stand-in for the reader thread: each poll returns the next scripted batch (or waits out
/// its timeout when the script is empty), and counts the polls. Map writes are the null sensor's.
final class ScriptedRing: NullKernelSensor, @unchecked Sendable {
    private let script: Mutex<[[KernelEvent]]>
    private let failure: SensorError?
    let polls = Atomic<Int>(0)

    init(_ batches: [[KernelEvent]], failWhenEmpty: SensorError? = nil) {
        script = Mutex(batches)
        failure = failWhenEmpty
        super.init(generation: 0)
    }

    override func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int {
        polls.add(1, ordering: .relaxed)
        let next: [KernelEvent]? = script.withLock { s in s.isEmpty ? nil : s.removeFirst() }
        guard let next else {
            if let failure { throw failure }
            usleep(UInt32(max(0, timeoutMs)) * 1000)
            return 0
        }
        next.forEach(handler)
        return next.count
    }
}

@Suite struct RecordDrainTests {
    static func event(_ n: Int) -> KernelEvent {
        KernelEvent(record: .cgroup(CgroupRecord(cgroupID: UInt64(n), level: 1, path: "/c\(n)", created: true)),
                    hook: .cgroup_mkdir, bootTimeNs: UInt64(n))
    }

    static func ids(_ batches: [[KernelEvent]]) -> [Int] {
        batches.flatMap { $0 }.map { Int($0.bootTimeNs) }
    }

    /// Waits until `condition` holds, at most 10 s (the test then fails on what it expects).
    static func wait(until condition: () -> Bool) {
        let deadline = Date(timeIntervalSinceNow: 10)
        while !condition(), Date() < deadline { usleep(1000) }
    }

    /// Takes until `count` events arrived (or 10 s passed: then the test fails on the count).
    static func takeAll(_ drain: RecordDrain, count: Int) throws -> [Int] {
        var got: [Int] = []
        let deadline = Date(timeIntervalSinceNow: 10)
        while got.count < count, Date() < deadline { got += ids(try drain.take(timeoutMs: 50)) }
        return got
    }

    @Test func everyEventArrivesInOrderAcrossBatches() throws {
        // 3 polls of 10, 0 and 25 events; batches of at most 4 reach the loop.
        let ring = ScriptedRing([(0..<10).map(Self.event), [], (10..<35).map(Self.event)])
        let drain = RecordDrain(sensor: ring, limitEvents: 1000, batchEvents: 4, pollTimeoutMs: 5)
        drain.start()
        let got = try Self.takeAll(drain, count: 35)
        drain.stop()
        #expect(got == Array(0..<35))
        #expect(try drain.take(timeoutMs: 0).isEmpty)
        #expect(drain.statistics.events == 35)
        #expect(drain.statistics.backpressureWaits == 0)
    }

    /// A loop busy elsewhere (a slow runtime lookup, a reload) does not stop the reader: it goes on
    /// polling the ring while the hand-off has room.
    @Test func theReaderPollsWhileTheLoopIsBusy() throws {
        let ring = ScriptedRing((0..<20).map { [Self.event($0)] })
        let drain = RecordDrain(sensor: ring, limitEvents: 1000, batchEvents: 64, pollTimeoutMs: 5)
        drain.start()
        // The loop takes nothing until the reader has polled past the script.
        Self.wait { ring.polls.load(ordering: .relaxed) >= 25 }
        #expect(ring.polls.load(ordering: .relaxed) >= 25)
        #expect(drain.queuedEvents == 20)
        drain.stop()
        #expect(Self.ids(try drain.take(timeoutMs: 0)) == Array(0..<20))
    }

    /// A full hand-off makes the reader wait (records stay in the kernel's ring), counted; nothing is
    /// dropped and the hand-off never holds more than its bound.
    @Test func aFullHandOffHoldsTheReaderBackWithoutLoss() throws {
        let ring = ScriptedRing((0..<50).map { i in (0..<4).map { Self.event(i * 4 + $0) } })
        let drain = RecordDrain(sensor: ring, limitEvents: 8, batchEvents: 4, pollTimeoutMs: 5)
        drain.start()
        // With the loop not taking, the reader stops after two batches (8 events) and waits.
        Self.wait { drain.statistics.backpressureWaits > 0 }
        #expect(drain.statistics.backpressureWaits == 1)
        #expect(drain.queuedEvents == 8)
        let pollsWhileFull = ring.polls.load(ordering: .relaxed)
        usleep(50_000)
        #expect(ring.polls.load(ordering: .relaxed) == pollsWhileFull, "the reader waits instead of reading on")
        let got = try Self.takeAll(drain, count: 200)
        drain.stop()
        #expect(got == Array(0..<200))
        #expect(drain.statistics.maxQueued <= 8)
        #expect(drain.statistics.backpressureWaits >= 1)
    }

    /// A reader that fails (the sensor was closed) hands over what it read, then the error.
    @Test func aFailedReadIsReportedAfterTheEventsBeforeIt() throws {
        let ring = ScriptedRing([[Self.event(1), Self.event(2)]], failWhenEmpty: .closed)
        let drain = RecordDrain(sensor: ring, limitEvents: 100, batchEvents: 10, pollTimeoutMs: 5)
        drain.start()
        var got: [Int] = []
        var failed = false
        let deadline = Date(timeIntervalSinceNow: 10)
        while !failed, Date() < deadline {
            do { got += Self.ids(try drain.take(timeoutMs: 50)) } catch { failed = true }
        }
        #expect(got == [1, 2])
        #expect(failed)
        drain.stop()
    }

    /// Stopping with the reader held back by a full hand-off still ends it, and keeps every event.
    @Test func stopReleasesAReaderHeldBack() throws {
        let ring = ScriptedRing((0..<10).map { i in (0..<4).map { Self.event(i * 4 + $0) } })
        let drain = RecordDrain(sensor: ring, limitEvents: 4, batchEvents: 4, pollTimeoutMs: 5)
        drain.start()
        Self.wait { drain.statistics.backpressureWaits > 0 }
        drain.stop()
        var got = Self.ids(try drain.take(timeoutMs: 0))
        #expect(got == Array(0..<8), "the queued batch and the one the reader held")
        // What the reader did not read stays in the ring for the agent's last direct drain.
        while let more = try? ring.poll(timeoutMs: 0, handler: { got.append(Int($0.bootTimeNs)) }), more > 0 {}
        #expect(got == Array(0..<40))
    }
}
