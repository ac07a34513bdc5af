#if canImport(Glibc)
import Glibc
#endif
import DefendEnrich
import DefendEvents
import DefendKernel
import Foundation
import Synchronization

/// The kernel ring buffer's only reader while the agent runs, on its own thread ("defend-ring").
/// It only polls, decodes and hands batches of events to the agent loop, so enrichment, container
/// lookups (cgroupfs, the runtime's database), /proc sweeps and policy reloads on the loop never
/// stop the ring from being drained.
///
/// The hand-off is bounded (`limitEvents`). When it is full the reader waits for the loop, and the
/// records stay in the kernel's ring: that is the back-pressure, and a ring that then fills is counted
/// by the kernel per record type (`kernel_records_lost_total`). Nothing is dropped here; the waits
/// and their time are counted (`ring_reader_backpressure_*`).
final class RecordDrain: @unchecked Sendable {
    struct Statistics: Sendable, Equatable {
        /// Times the reader found the hand-off full and waited for the loop.
        var backpressureWaits: UInt64 = 0
        var backpressureNs: UInt64 = 0
        /// Events handed to the loop.
        var events: UInt64 = 0
        /// Most events the hand-off held at once.
        var maxQueued = 0
    }

    let limitEvents: Int
    /// Events handed over in one batch at most (a long backlog reaches the loop in pieces).
    let batchEvents: Int
    private let pollTimeoutMs: Int32
    // Only the drain thread polls `sensor` (started in `start`, joined in `stop`); the loop thread
    // keeps writing maps through it, which libbpf and the kernel allow concurrently.
    private let sensor: KernelSensor
    /// Boot time of the reader's last completed poll (the health check's "ring drained" clock).
    let lastPollBootNs = Atomic<UInt64>(0)

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var batches: [[KernelEvent]] = []
    private var queued = 0
    private var stopping = false
    private var running = false
    private var failure: SensorError?
    private var stats = Statistics()

    init(sensor: KernelSensor, limitEvents: Int = 65_536, batchEvents: Int = 4_096, pollTimeoutMs: Int32 = 100) {
        self.sensor = sensor
        self.limitEvents = max(1, limitEvents)
        self.batchEvents = max(1, min(batchEvents, limitEvents))
        self.pollTimeoutMs = pollTimeoutMs
    }

    /// Starts the reader thread.
    func start() {
        condition.lock()
        stopping = false
        failure = nil
        running = true
        condition.unlock()
        lastPollBootNs.store(BootClock.nowBootNs(), ordering: .relaxed)
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "defend-ring"
        thread.start()
    }

    private func readLoop() {
        var batch: [KernelEvent] = []
        batch.reserveCapacity(batchEvents)
        var error: SensorError?
        while !isStopping {
            do {
                try sensor.poll(timeoutMs: pollTimeoutMs) { event in
                    batch.append(event)
                    if batch.count >= self.batchEvents { self.hand(&batch) }
                }
            } catch let e {
                error = e
            }
            lastPollBootNs.store(BootClock.nowBootNs(), ordering: .relaxed)
            if !batch.isEmpty { hand(&batch) }
            if error != nil { break }
        }
        condition.lock()
        failure = error
        running = false
        condition.broadcast()
        condition.unlock()
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Appends a batch, waiting while the hand-off is full (unless stopping: then the loop takes
    /// everything right after, so the bound is exceeded by one batch at most).
    private func hand(_ batch: inout [KernelEvent]) {
        condition.lock()
        if queued + batch.count > limitEvents, queued > 0, !stopping {
            let started = BootClock.nowBootNs()
            stats.backpressureWaits += 1
            while queued + batch.count > limitEvents, queued > 0, !stopping { condition.wait() }
            stats.backpressureNs &+= BootClock.nowBootNs() &- started
        }
        queued += batch.count
        stats.events &+= UInt64(batch.count)
        stats.maxQueued = max(stats.maxQueued, queued)
        batches.append(batch)
        condition.broadcast()
        condition.unlock()
        batch = []
        batch.reserveCapacity(batchEvents)
    }

    /// The loop's side: waits up to `timeoutMs` for events and takes every batch queued. Throws the
    /// error that ended the reader once nothing queued before it is left.
    func take(timeoutMs: Int) throws(SensorError) -> [[KernelEvent]] {
        condition.lock()
        defer { condition.unlock() }
        if batches.isEmpty, running, timeoutMs > 0 {
            let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
            while batches.isEmpty, running, condition.wait(until: deadline) {}
        }
        if batches.isEmpty, let failure { throw failure }
        let taken = batches
        batches = []
        queued = 0
        condition.broadcast()
        return taken
    }

    /// Stops the reader and waits for it to finish its poll (at most `pollTimeoutMs`); what it read
    /// stays queued for a last `take`.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// Events waiting for the loop now.
    var queuedEvents: Int {
        condition.lock()
        defer { condition.unlock() }
        return queued
    }
}
