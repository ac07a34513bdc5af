import DefendECS
import Foundation
import Synchronization

/// A run of NDJSON lines with one span per line.
public struct DocumentChunk: Sendable {
    public var bytes: [UInt8] = []
    public var spans: [DocumentSpan] = []
    public init() {}
    public init(bytes: [UInt8], spans: [DocumentSpan]) { self.bytes = bytes; self.spans = spans }
    public var isEmpty: Bool { spans.isEmpty }
}

/// A destination driven by `OutputThread`: every call but `statistics` comes from that one thread.
public protocol DocumentOutput: AnyObject, Sendable {
    func write(_ chunk: DocumentChunk)
    /// Called at least every 100 ms (timers: fsync, file checks, flushes).
    func tick()
    func reopen()
    /// Last call: flush, and leave what cannot be delivered within `deadline` seconds queued on disk
    /// (or counted as dropped where there is no queue).
    func close(deadline: Double)
    /// A snapshot, safe from any thread.
    var statistics: SinkStatistics { get }
}

/// The bounded hand-off between the event pipeline (the agent loop's thread) and an output
/// on its own thread. The pipeline only copies bytes here; it never waits for I/O. When the
/// hand-off holds `limitBytes`, further log documents are dropped (counted); alerts may use
/// `alertReserveBytes` more, so log pressure never costs an alert.
public final class OutputThread: DocumentSink, @unchecked Sendable {
    public let output: DocumentOutput
    private let limitBytes: Int
    private let alertReserveBytes: Int
    private let chunkBytes: Int

    // Pipeline side (one thread).
    private var current = DocumentChunk()
    private var droppedLogs: UInt64 = 0
    private var droppedAlerts: UInt64 = 0

    // Shared.
    private let queuedBytes = Atomic<Int>(0)
    private let droppedCount = Atomic<UInt64>(0)
    private let droppedLogCount = Atomic<UInt64>(0)
    private let droppedAlertCount = Atomic<UInt64>(0)
    private let reopenRequested = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var pending: [DocumentChunk] = []   // guarded by condition
    /// Emptied chunks the output thread gives back for the pipeline to fill again (at most
    /// `spareChunks`): no allocation, and no fresh pages to fault in, per chunk.
    private var spare: [DocumentChunk] = []     // guarded by condition
    private static let spareChunks = 4
    private var closing = false                  // guarded by condition
    private var finished = false                 // guarded by condition
    private let closeDeadline: Double
    private var thread: Thread?

    public init(output: DocumentOutput, limitBytes: Int = 32 << 20, alertReserveBytes: Int = 16 << 20,
                chunkBytes: Int = 256 << 10, closeDeadline: Double = 10) {
        self.output = output
        self.limitBytes = limitBytes
        self.alertReserveBytes = alertReserveBytes
        self.chunkBytes = chunkBytes
        self.closeDeadline = closeDeadline
        current.bytes.reserveCapacity(chunkBytes + 64 << 10)
        let t = Thread { [self] in self.loop() }
        t.name = "defend-output"
        thread = t
        t.start()
    }

    public func append(_ lines: UnsafeRawBufferPointer, spans: UnsafeBufferPointer<DocumentSpan>) {
        let queued = queuedBytes.load(ordering: .relaxed) + current.bytes.count
        var offset = 0
        for span in spans {
            let length = Int(span.length)
            let limit = span.stream.isAlert ? limitBytes + alertReserveBytes : limitBytes
            if queued + length > limit {
                if span.stream.isAlert { droppedAlerts += 1 } else { droppedLogs += 1 }
            } else {
                current.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: lines[offset..<offset + length]))
                current.spans.append(span)
            }
            offset += length
        }
        if current.bytes.count >= chunkBytes { flush() }
    }

    public func flush() {
        if droppedLogs + droppedAlerts > 0 {
            droppedLogCount.wrappingAdd(droppedLogs, ordering: .relaxed)
            droppedAlertCount.wrappingAdd(droppedAlerts, ordering: .relaxed)
            droppedCount.wrappingAdd(droppedLogs + droppedAlerts, ordering: .relaxed)
            droppedLogs = 0; droppedAlerts = 0
        }
        guard !current.isEmpty else { return }
        let chunk = current
        queuedBytes.wrappingAdd(chunk.bytes.count, ordering: .relaxed)
        condition.lock()
        pending.append(chunk)
        current = spare.popLast() ?? DocumentChunk()
        condition.signal()
        condition.unlock()
        if current.bytes.capacity < chunkBytes { current.bytes.reserveCapacity(chunkBytes + 64 << 10) }
    }

    public func reopen() {
        reopenRequested.store(true, ordering: .relaxed)
        condition.lock(); condition.signal(); condition.unlock()
    }

    public func close() {
        flush()
        condition.lock()
        closing = true
        condition.signal()
        while !finished { condition.wait() }
        condition.unlock()
    }

    /// Bytes handed off and not yet taken by the output thread (the hand-off's depth).
    public var pendingBytes: Int { queuedBytes.load(ordering: .relaxed) }
    /// The hand-off's bound for log documents (alerts may use `alertReserveBytes` more).
    public var capacityBytes: Int { limitBytes }

    public var statistics: SinkStatistics {
        var s = output.statistics
        let handoffLogs = droppedLogCount.load(ordering: .relaxed)
        let handoffAlerts = droppedAlertCount.load(ordering: .relaxed)
        s.droppedLogs += handoffLogs
        s.droppedAlerts += handoffAlerts
        s.documentsDropped += handoffLogs + handoffAlerts
        return s
    }

    private func loop() {
        var lastTick = DispatchTime.now().uptimeNanoseconds
        var batch: [DocumentChunk] = []
        while true {
            condition.lock()
            if pending.isEmpty && !closing { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05)) }
            swap(&batch, &pending)
            let stop = closing && batch.isEmpty
            let taken = batch.count
            condition.unlock()

            // Each chunk is released (or kept as a spare) as soon as it is written, before the next
            // one: the pipeline refills the hand-off as `queuedBytes` goes down, so holding written
            // chunks until the end of the batch would let the hand-off's memory reach twice its bound.
            var emptied: [DocumentChunk] = []
            for i in batch.indices {
                var chunk = DocumentChunk()
                swap(&chunk, &batch[i])
                output.write(chunk)
                queuedBytes.wrappingSubtract(chunk.bytes.count, ordering: .relaxed)
                if emptied.count < Self.spareChunks, chunk.bytes.capacity <= chunkBytes + 64 << 10 {
                    chunk.bytes.removeAll(keepingCapacity: true)
                    chunk.spans.removeAll(keepingCapacity: true)
                    emptied.append(chunk)
                }
            }
            batch.removeAll(keepingCapacity: true)
            if !emptied.isEmpty {
                condition.lock()
                while spare.count < Self.spareChunks, let c = emptied.popLast() { spare.append(c) }
                condition.unlock()
            }
            if reopenRequested.exchange(false, ordering: .relaxed) { output.reopen() }
            let now = DispatchTime.now().uptimeNanoseconds
            if now &- lastTick >= 50_000_000 || taken == 0 {
                output.tick()
                lastTick = now
            }
            if stop { break }
        }
        output.close(deadline: closeDeadline)
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }
}

