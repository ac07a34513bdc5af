import DefendECS
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Ships documents to Elasticsearch through the disk queue.
///
/// The output thread appends each chunk to the `DiskQueue` (fsync'd within `queue.sync_interval`);
/// a sender thread reads batches back (alerts first), sends them as `_bulk` `create` operations into
/// their data streams with `_id` = `event.id`, and acknowledges a batch only when every item is
/// settled: stored (2xx), already stored (409 on a retried create), or refused for its content
/// (other 4xx: written to the dead-letter file and counted). 429, 5xx and network errors are
/// retried with exponential backoff and jitter, honouring `Retry-After`; 413 splits the batch.
/// Nothing is dropped because the cluster is away: documents wait on disk, in order.
public final class ElasticsearchOutput: DocumentOutput, @unchecked Sendable {
    public let settings: ElasticsearchSettings
    public let queue: DiskQueue
    private let transport: ElasticsearchTransport
    private let log: OutputLogger
    private let namespace: String
    private let stats = Mutex(SinkStatistics())
    private let deadLetterPath: String

    private let condition = NSCondition()
    private var stopping = false          // guarded by condition
    private var stopDeadline: UInt64 = 0  // guarded by condition
    private var senderDone = false        // guarded by condition
    private let unreadHint = Atomic<Int>(0)

    // Sender thread only.
    private var prefixes: [[UInt8]] = []
    private var body = ByteBuffer()
    private var compressed = ByteBuffer()
    private let gzip: GzipCompressor?
    private var lastPersist: UInt64 = 0
    private var failingReported = false
    private var rng = SystemRandomNumberGenerator()

    public init(settings: ElasticsearchSettings, queue queueSettings: QueueSettings, namespace: String,
                log: @escaping OutputLogger) throws(SinkError) {
        if let p = DataStreamNamespace.problem(namespace) { throw .invalidSetting(p) }
        self.settings = settings
        self.log = log
        self.namespace = namespace
        transport = try ElasticsearchTransport(settings: settings)
        queue = try DiskQueue(settings: queueSettings, log: log)
        deadLetterPath = settings.deadLetterPath ?? queueSettings.path + "/dead-letter.ndjson"
        gzip = settings.compressionLevel > 0 ? GzipCompressor(level: settings.compressionLevel) : nil
        prefixes = DataStreamKind.allCases.map { kind in
            Array("{\"create\":{\"_index\":\"\(kind.streamPrefix)-\(namespace)\",\"_id\":\"".utf8)
        }
        if settings.tls.verificationMode == .none, settings.hosts.contains(where: { $0.hasPrefix("https") }) {
            log(.warning, "output.elasticsearch.ssl.verification_mode is none: the server is not authenticated")
        }
        let t = Thread { [self] in self.senderLoop() }
        t.name = "defend-es-sender"
        t.start()
    }

    // MARK: output thread

    public func write(_ chunk: DocumentChunk) {
        queue.append(chunk)
        let hasAlert = chunk.spans.contains { $0.stream.isAlert }
        let unread = unreadHint.wrappingAdd(chunk.spans.count, ordering: .relaxed).newValue
        if hasAlert || unread >= settings.bulkMaxSize { wake() }
    }

    public func tick() { queue.syncIfDue() }

    public func reopen() {}

    public func close(deadline: Double) {
        queue.syncIfDue()
        condition.lock()
        stopping = true
        stopDeadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(deadline, 0) * 1e9)
        condition.broadcast()
        while !senderDone { condition.wait() }
        condition.unlock()
        queue.close()
        transport.shutdown()
        let c = queue.counters
        if c.queuedDocuments > 0 {
            log(.info, "\(c.queuedDocuments) documents not yet acknowledged stay in the disk queue \(queue.settings.path)")
        }
    }

    public var statistics: SinkStatistics {
        var s = stats.withLock { $0 }
        let c = queue.counters
        s.documentsQueued = c.queuedDocuments
        s.queueBytes = c.bytes
        s.droppedLogs += c.droppedLogs
        s.droppedAlerts += c.droppedAlerts
        s.documentsDropped += c.droppedLogs + c.droppedAlerts + c.corrupt
        return s
    }

    private func wake() {
        condition.lock(); condition.broadcast(); condition.unlock()
    }

    // MARK: sender thread

    private enum Stop: Error { case deadline }

    /// Waits up to `seconds` (or until woken); false once the close deadline has passed.
    private func pause(_ seconds: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let until = Date(timeIntervalSinceNow: seconds)
        if stopping {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= stopDeadline { return false }
            _ = condition.wait(until: min(until, Date(timeIntervalSinceNow: Double(stopDeadline - now) / 1e9)))
            return DispatchTime.now().uptimeNanoseconds < stopDeadline
        }
        _ = condition.wait(until: until)
        return true
    }

    private var stopState: (stopping: Bool, pastDeadline: Bool) {
        condition.lock(); defer { condition.unlock() }
        return (stopping, stopping && DispatchTime.now().uptimeNanoseconds >= stopDeadline)
    }

    private func senderLoop() {
        while true {
            let batch = queue.nextBatch(lane: .alerts, maxDocuments: settings.bulkMaxSize, maxBytes: Int(settings.bulkMaxBytes))
                ?? queue.nextBatch(lane: .logs, maxDocuments: settings.bulkMaxSize, maxBytes: Int(settings.bulkMaxBytes))
            if var batch {
                unreadHint.wrappingSubtract(batch.spans.count, ordering: .relaxed)
                do {
                    try deliver(batch)
                    queue.ack(batch)
                    queue.recycle(&batch)
                    let now = DispatchTime.now().uptimeNanoseconds
                    if now &- lastPersist > 500_000_000 { queue.persistAcks(); lastPersist = now }
                } catch {
                    break  // close deadline: the batch stays unacknowledged (sent again after restart)
                }
                continue
            }
            queue.persistAcks()
            let (isStopping, _) = stopState
            if isStopping { break }
            // Nothing waiting: a partial batch goes out at the latest after flush_interval.
            _ = pause(settings.flushInterval)
        }
        queue.persistAcks()
        condition.lock()
        senderDone = true
        condition.broadcast()
        condition.unlock()
    }

    /// Returns once every document of `batch` is settled; throws only at the close deadline.
    private func deliver(_ batch: QueueBatch) throws(Stop) {
        // Offsets of each document in batch.bytes.
        var offsets: [Int] = []
        offsets.reserveCapacity(batch.spans.count)
        var o = 0
        for s in batch.spans { offsets.append(o); o += Int(s.length) }
        try deliver(batch, Array(batch.spans.indices), offsets)
    }

    private func deliver(_ batch: QueueBatch, _ items: [Int], _ offsets: [Int]) throws(Stop) {
        var pending = items
        var attempt = 0
        while !pending.isEmpty {
            if stopState.pastDeadline { throw .deadline }
            buildBody(batch, pending, offsets)
            var payload = body
            var gzipped = false
            if let gzip {
                let ok = body.withUnsafeReadableBytes { gzip.compress($0, into: &compressed) }
                if ok { payload = compressed; gzipped = true }
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let result = transport.request(.POST, "/_bulk?filter_path=errors,items.*.status,items.*.error",
                                           buffer: payload, contentType: "application/x-ndjson", gzip: gzipped)
            payload = ByteBuffer()  // the request's reference is gone: body and compressed are reused unshared
            let seconds = Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9
            stats.withLock { $0.bulkRequests += 1; $0.bulkLatencySecondsSum += seconds }
            var retryAfter: Double?
            switch result {
            case .failure(let why):
                noteFailure("bulk request failed: \(why)")
            case .response(let status, _, let responseBody):
                retryAfter = result.header("Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                switch status {
                case 200:
                    guard let remaining = settle(batch, pending, offsets, responseBody) else {
                        noteFailure("unreadable bulk response from \(transport.currentHost)")
                        break
                    }
                    if remaining.count < pending.count { attempt = 0 }
                    pending = remaining
                    if pending.isEmpty { noteSuccess(); return }
                    stats.withLock { $0.retries += UInt64(pending.count) }
                case 413:
                    if pending.count == 1 {
                        deadLetter(batch, pending[0], offsets, status: 413,
                                   error: "{\"type\":\"request_entity_too_large\",\"reason\":\"a single document exceeds http.max_content_length\"}")
                        noteSuccess()
                        return
                    }
                    let half = pending.count / 2
                    try deliver(batch, Array(pending[..<half]), offsets)
                    try deliver(batch, Array(pending[half...]), offsets)
                    return
                case 429, 500...599:
                    stats.withLock { $0.retries += 1 }
                    noteFailure("bulk request: HTTP \(status) from \(transport.currentHost)")
                    if status >= 500 && status != 503 || status == 503 { transport.failover() }
                default:
                    // 401, 403, 404...: nothing is dropped for a cluster-side problem; it is reported and retried.
                    noteFailure("bulk request: HTTP \(status) from \(transport.currentHost): "
                                + String(decoding: responseBody.prefix(300), as: UTF8.self)
                                + (status == 404 ? " (run `defend setup`?)" : ""))
                }
            }
            guard !pending.isEmpty else { return }
            let delay = backoff(attempt: attempt, retryAfter: retryAfter)
            attempt += 1
            if !pause(delay) { throw .deadline }
        }
    }

    /// Equal-jitter exponential backoff; `Retry-After` (seconds) wins, capped at `backoff_max`.
    private func backoff(attempt: Int, retryAfter: Double?) -> Double {
        if let r = retryAfter, r >= 0 { return min(r, settings.backoffMax) }
        let ceiling = min(settings.backoffMax, settings.backoffInit * pow(2, Double(min(attempt, 30))))
        return ceiling / 2 + Double.random(in: 0...(ceiling / 2), using: &rng)
    }

    /// The NDJSON body of `items` into `body` (reused; one pass of memcpy, no allocation per document).
    private func buildBody(_ batch: QueueBatch, _ items: [Int], _ offsets: [Int]) {
        var size = 0
        for i in items { size += prefixes[Int(batch.spans[i].stream.rawValue)].count + DocumentSpan.idLength + 5 + Int(batch.spans[i].length) }
        body.clear()
        body.reserveCapacity(size)
        batch.bytes.withUnsafeBytes { raw in
            body.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
                var o = out.baseAddress!
                func put(_ p: UnsafeRawPointer, _ n: Int) { o.copyMemory(from: p, byteCount: n); o += n }
                func put(_ b: UInt8) { o.storeBytes(of: b, as: UInt8.self); o += 1 }
                for i in items {
                    let span = batch.spans[i]
                    let length = Int(span.length)
                    let doc = raw.baseAddress! + offsets[i]
                    prefixes[Int(span.stream.rawValue)].withUnsafeBytes { (prefix: UnsafeRawBufferPointer) -> Void in
                        if span.idOffset >= 0, Int(span.idOffset) + DocumentSpan.idLength <= length {
                            put(prefix.baseAddress!, prefix.count)
                            put(doc + Int(span.idOffset), DocumentSpan.idLength)
                            put(0x22); put(0x7d); put(0x7d); put(0x0a)  // "}}\n
                        } else {
                            put(prefix.baseAddress!, prefix.count - 9)  // without ,"_id":"
                            put(0x7d); put(0x7d); put(0x0a)
                        }
                    }
                    if length > 0 { put(doc, length) }
                    if length == 0 || raw[offsets[i] + length - 1] != 0x0a { put(0x0a) }
                }
                return o - out.baseAddress!
            }
        }
    }

    /// Reads per-item results; returns the items to retry, nil if the response is unreadable.
    private func settle(_ batch: QueueBatch, _ items: [Int], _ offsets: [Int], _ response: [UInt8]) -> [Int]? {
        // Fast path: `"errors":false` near the start means every item was stored.
        let head = response.prefix(96)
        if let _ = head.firstRange(of: Array("\"errors\":false".utf8)) {
            stats.withLock { $0.documentsWritten += UInt64(items.count); $0.bytesWritten += UInt64(items.reduce(0) { $0 + Int(batch.spans[$1].length) }) }
            return []
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(response)) as? [String: Any],
              let results = object["items"] as? [[String: Any]], results.count == items.count else { return nil }
        var retry: [Int] = []
        var stored: UInt64 = 0
        var storedBytes: UInt64 = 0
        for (i, result) in zip(items, results) {
            guard let op = result.values.first as? [String: Any], let status = op["status"] as? Int else {
                retry.append(i); continue
            }
            if (200..<300).contains(status) || status == 409 {
                stored += 1; storedBytes += UInt64(batch.spans[i].length)
            } else if status == 429 || status >= 500 {
                retry.append(i)
            } else {
                let error = op["error"].flatMap { try? JSONSerialization.data(withJSONObject: $0) }
                    .map { String(decoding: $0, as: UTF8.self) } ?? "null"
                deadLetter(batch, i, offsets, status: status, error: error)
            }
        }
        stats.withLock { $0.documentsWritten += stored; $0.bytesWritten += storedBytes }
        return retry
    }

    /// Appends `{"status":…,"error":…,"document":…}` to the dead-letter file (counted; a failure to
    /// write it counts the document as dropped).
    private func deadLetter(_ batch: QueueBatch, _ i: Int, _ offsets: [Int], status: Int, error: String) {
        var line = Array("{\"status\":\(status),\"index\":\"\(batch.spans[i].stream.streamPrefix)-\(namespace)\",\"error\":\(error),\"document\":".utf8)
        var doc = Array(batch.bytes[offsets[i]..<offsets[i] + Int(batch.spans[i].length)])
        while doc.last == 0x0a { doc.removeLast() }
        line += doc
        line += Array("}\n".utf8)
        let fd = open(deadLetterPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        var ok = false
        if fd >= 0 {
            ok = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) } == line.count
            fsync(fd)
            Glibc.close(fd)
        }
        let first = stats.withLock { s -> Bool in
            if ok { s.documentsDeadLettered += 1 } else { s.documentsDropped += 1 }
            return (ok ? s.documentsDeadLettered : s.documentsDropped) == 1
        }
        if !ok {
            log(.error, "cannot write the dead-letter file \(deadLetterPath): a refused document is dropped")
        } else if first {
            log(.warning, "Elasticsearch refused a document (HTTP \(status)); refused documents go to \(deadLetterPath)")
        }
    }

    private func noteFailure(_ message: String) {
        stats.withLock { $0.lastError = message; $0.failing = true }
        if !failingReported {
            failingReported = true
            log(.warning, message + "; documents wait in the disk queue and are retried")
        }
    }

    private func noteSuccess() {
        if failingReported {
            failingReported = false
            log(.info, "Elasticsearch accepts documents again (\(transport.currentHost))")
        }
        stats.withLock { $0.failing = false }
    }
}
