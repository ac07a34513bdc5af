import CZlib
import DefendECS
import Foundation
import Synchronization

public struct QueueSettings: Sendable, Hashable {
    /// Directory of the queue (two lanes below it: `alerts/` and `logs/`).
    public var path: String
    /// Bound on the bytes of both lanes; beyond it log documents are dropped before alerts, oldest first.
    public var maxSize: Int64 = 1 << 30
    /// Segment file size; 0 = `maxSize / 16`, between 1 MiB and 64 MiB. Drops remove whole segments.
    public var segmentSize: Int64 = 0
    /// Written documents are fsync'd at least this often (seconds, at most 1).
    public var syncInterval: Double = 0.2

    public init(path: String) { self.path = path }

    var effectiveSegmentSize: Int64 {
        if segmentSize > 0 { return segmentSize }
        return min(max(maxSize / 16, 1 << 20), 64 << 20)
    }
}

/// Documents read back from the queue for one bulk request: payloads back to back, one span each.
public struct QueueBatch: Sendable {
    public let lane: QueueLaneKind
    public var bytes: [UInt8]
    public var spans: [DocumentSpan]
    /// Queue position just after the batch (what `ack` persists).
    let end: QueuePosition
}

public enum QueueLaneKind: Int, Sendable, CaseIterable {
    case alerts = 0, logs = 1
    var directory: String { self == .alerts ? "alerts" : "logs" }
}

struct QueuePosition: Sendable, Hashable, Comparable {
    var segment: UInt64
    var offset: Int64
    static func < (a: Self, b: Self) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
}

/// The on-disk queue between the output thread (writer) and the sender (reader).
///
/// Two lanes, `alerts/` and `logs/` (process, file, heartbeat), each a directory of segment files
/// `<16 hex digits>.seg` holding frames `len u32 | crc32 u32 | meta u32 | payload` (little endian;
/// meta = data stream | `event.id` offset << 8; the CRC covers meta and payload). A torn or corrupt
/// tail is found by the length and CRC and cut at start-up. Each lane's acknowledged position is in
/// `ack` (written to a temporary file, fsync'd, renamed, directory fsync'd). Delivery is in order
/// within a lane; alerts are sent first. When both lanes together pass `maxSize`, whole log
/// segments are dropped, oldest first, then alert segments; every dropped document is counted.
/// Segments the sender is reading from are never dropped.
public final class DiskQueue: @unchecked Sendable {
    public let settings: QueueSettings
    private let state: Mutex<State>
    private let log: OutputLogger

    struct Segment {
        var id: UInt64
        var bytes: Int64
        var frames: Int
    }

    struct Lane {
        let directory: String
        var segments: [Segment] = []
        var writeFD: Int32 = -1
        /// Unsynced bytes in the write segment.
        var dirty = false
        var read = QueuePosition(segment: 0, offset: 0)
        var framesRead = 0
        var readFD: Int32 = -1
        var readFDSegment: UInt64 = .max
        var ack = QueuePosition(segment: 0, offset: 0)
        var ackPersisted = QueuePosition(segment: 0, offset: 0)
        var unacked = 0
    }

    struct State {
        var lanes: [Lane]
        var totalBytes: Int64 = 0
        var droppedLogs: UInt64 = 0
        var droppedAlerts: UInt64 = 0
        var corrupt: UInt64 = 0
        var lastSync: UInt64 = 0
        var closed = false
    }

    public static let headerBytes = 12
    static let maxFrameBytes = 64 << 20
    /// Scratch buffers (frames being written, blocks being read) larger than this are not kept.
    static let keptScratchBytes = 8 << 20
    /// The reader reads segments in blocks of about this size.
    static let readBlockBytes = 1 << 20

    // Writer thread only (`append`): frame buffers reused from chunk to chunk.
    private var alertFrames: [UInt8] = []
    private var logFrames: [UInt8] = []
    // Reader (under the lock, sender thread): the block read from a segment, reused.
    private var readBuffer: [UInt8] = []
    /// The bytes of an acknowledged batch, given back by the sender (`recycle`) for the next batch.
    private var spareBatchBytes: [UInt8] = []

    /// Opens (or creates) the queue, recovering what a previous run left: segments after the
    /// acknowledged position are kept, a torn tail is cut.
    public init(settings: QueueSettings, log: @escaping OutputLogger) throws(SinkError) {
        self.settings = settings
        self.log = log
        var lanes: [Lane] = []
        var corrupt: UInt64 = 0
        var recovered = 0
        for kind in QueueLaneKind.allCases {
            let dir = settings.path + "/" + kind.directory
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw .queue("cannot create \(dir): \(error.localizedDescription)")
            }
            var lane = Lane(directory: dir)
            try Self.recover(&lane, corrupt: &corrupt, log: log)
            recovered += lane.unacked
            lanes.append(lane)
        }
        var s = State(lanes: lanes)
        s.corrupt = corrupt
        s.totalBytes = lanes.reduce(0) { $0 + $1.segments.reduce(0) { $0 + $1.bytes } }
        s.lastSync = DispatchTime.now().uptimeNanoseconds
        state = Mutex(s)
        if recovered > 0 {
            log(.info, "disk queue \(settings.path): \(recovered) documents from a previous run are waiting to be sent")
        }
    }

    // MARK: recovery

    private static func segmentPath(_ dir: String, _ id: UInt64) -> String {
        dir + "/" + String(format: "%016llx", id) + ".seg"
    }

    private static func recover(_ lane: inout Lane, corrupt: inout UInt64, log: OutputLogger) throws(SinkError) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: lane.directory)) ?? []
        let ids = names.compactMap { n -> UInt64? in
            guard n.hasSuffix(".seg"), n.count == 20 else { return nil }
            return UInt64(n.prefix(16), radix: 16)
        }.sorted()
        let ack = readAck(lane.directory) ?? QueuePosition(segment: ids.first ?? 0, offset: 0)
        for id in ids where id < ack.segment { unlink(segmentPath(lane.directory, id)) }
        for id in ids where id >= ack.segment {
            let path = segmentPath(lane.directory, id)
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw .queue("cannot open \(path): \(String(cString: strerror(errno)))") }
            defer { Glibc.close(fd) }
            var st = stat()
            fstat(fd, &st)
            let size = Int64(st.st_size)
            var offset: Int64 = 0
            var frames = 0
            var framesBeforeAck = 0
            var header = [UInt8](repeating: 0, count: headerBytes)
            var payload: [UInt8] = []
            while offset + Int64(headerBytes) <= size {
                guard pread(fd, &header, headerBytes, off_t(offset)) == headerBytes else { break }
                let (len, crc, meta) = decodeHeader(header)
                guard len > 0, len <= maxFrameBytes, offset + Int64(headerBytes + len) <= size else { break }
                payload = [UInt8](repeating: 0, count: len)
                guard pread(fd, &payload, len, off_t(offset) + off_t(headerBytes)) == len,
                      checksum(meta: meta, payload: payload) == crc else { break }
                offset += Int64(headerBytes + len)
                frames += 1
                if id == ack.segment, offset <= ack.offset { framesBeforeAck += 1 }
            }
            if offset < size {
                // A torn tail (the writer died mid-frame) or corruption: cut there.
                log(.warning, "disk queue \(path): \(size - offset) bytes after the last whole frame cut")
                if ftruncate(fd, off_t(offset)) != 0 {
                    throw .queue("cannot cut \(path): \(String(cString: strerror(errno)))")
                }
                if id != ids.last { corrupt += 1 }
            }
            lane.segments.append(Segment(id: id, bytes: offset, frames: frames))
            lane.unacked += frames - (id == ack.segment ? framesBeforeAck : 0)
            if id == ack.segment { lane.framesRead = framesBeforeAck }
        }
        lane.ack = ack
        lane.ackPersisted = ack
        lane.read = ack
        if lane.segments.first?.id != ack.segment {
            // The acknowledged segment is gone (fully sent): reading starts at the next one.
            lane.read = QueuePosition(segment: lane.segments.first?.id ?? ack.segment, offset: 0)
            lane.framesRead = 0
        }
        // New documents go to a new segment (never appended after a cut tail).
        let next = (ids.last.map { $0 + 1 }) ?? max(ack.segment, 1)
        let path = segmentPath(lane.directory, next)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .queue("cannot create \(path): \(String(cString: strerror(errno)))") }
        lane.writeFD = fd
        lane.segments.append(Segment(id: next, bytes: 0, frames: 0))
        if lane.segments.count == 1 {
            lane.read = QueuePosition(segment: next, offset: 0)
            lane.ack = lane.read
        }
        fsyncDirectory(lane.directory)
    }

    static func decodeHeader(_ h: [UInt8]) -> (Int, UInt32, UInt32) {
        func u32(_ i: Int) -> UInt32 {
            UInt32(h[i]) | UInt32(h[i + 1]) << 8 | UInt32(h[i + 2]) << 16 | UInt32(h[i + 3]) << 24
        }
        return (Int(u32(0)), u32(4), u32(8))
    }

    static func checksum(meta: UInt32, payload: UnsafeRawBufferPointer) -> UInt32 {
        var m = meta.littleEndian
        var c = withUnsafeBytes(of: &m) { crc32(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 4) }
        if payload.count > 0 {
            c = crc32(c, payload.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt(payload.count))
        }
        return UInt32(truncatingIfNeeded: c)
    }

    static func checksum(meta: UInt32, payload: [UInt8]) -> UInt32 {
        payload.withUnsafeBytes { checksum(meta: meta, payload: $0) }
    }

    private static func readAck(_ dir: String) -> QueuePosition? {
        guard let data = FileManager.default.contents(atPath: dir + "/ack"), data.count == 20 else { return nil }
        let b = [UInt8](data)
        func u64(_ i: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * $1) } }
        let crc = UInt32(b[16]) | UInt32(b[17]) << 8 | UInt32(b[18]) << 16 | UInt32(b[19]) << 24
        let body = Array(b[0..<16])
        let c = body.withUnsafeBytes { UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 16)) }
        guard c == crc else { return nil }
        return QueuePosition(segment: u64(0), offset: Int64(bitPattern: u64(8)))
    }

    private static func writeAck(_ dir: String, _ p: QueuePosition) -> Bool {
        var b = [UInt8]()
        for v in [p.segment, UInt64(bitPattern: p.offset)] { for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        let c = b.withUnsafeBytes { UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 16)) }
        for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: c >> (8 * i))) }
        let tmp = dir + "/ack.tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        let ok = write(fd, b, b.count) == b.count && fsync(fd) == 0
        Glibc.close(fd)
        guard ok, rename(tmp, dir + "/ack") == 0 else { return false }
        fsyncDirectory(dir)
        return true
    }

    private static func fsyncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); Glibc.close(fd) }
    }

    // MARK: writer (the output thread)

    /// Appends the documents of `chunk` (alerts to the alerts lane, the rest to the logs lane), then
    /// enforces `maxSize`. Returns false if the write failed (the documents are counted as dropped).
    @discardableResult
    public func append(_ chunk: DocumentChunk) -> Bool {
        // Frames are built in two buffers reused from chunk to chunk (writer thread only): one pass,
        // headers stored as words, payloads copied with memcpy, no allocation per document.
        var alertBytes = 0, logBytes = 0, alertCount = 0, logCount = 0
        for span in chunk.spans {
            if span.stream.isAlert { alertBytes += Int(span.length) + Self.headerBytes; alertCount += 1 }
            else { logBytes += Int(span.length) + Self.headerBytes; logCount += 1 }
        }
        var alerts = alertFrames, logs = logFrames
        alertFrames = []; logFrames = []
        defer { alertFrames = alerts; logFrames = logs }
        if alerts.count < alertBytes { alerts = [UInt8](repeating: 0, count: alertBytes) }
        if logs.count < logBytes { logs = [UInt8](repeating: 0, count: logBytes) }
        alerts.withUnsafeMutableBytes { a in
            logs.withUnsafeMutableBytes { l in
                chunk.bytes.withUnsafeBytes { raw in
                    var offset = 0, ao = 0, lo = 0
                    for span in chunk.spans {
                        let len = Int(span.length)
                        let payload = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + len])
                        let idOffset = span.idOffset >= 0 && span.idOffset < 0xFF_FFFF ? UInt32(span.idOffset) : 0xFF_FFFF
                        let meta = UInt32(span.stream.rawValue) | idOffset << 8
                        let crc = Self.checksum(meta: meta, payload: payload)
                        let out = span.stream.isAlert ? a.baseAddress! + ao : l.baseAddress! + lo
                        out.storeBytes(of: UInt32(len).littleEndian, toByteOffset: 0, as: UInt32.self)
                        out.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
                        out.storeBytes(of: meta.littleEndian, toByteOffset: 8, as: UInt32.self)
                        if len > 0 { (out + Self.headerBytes).copyMemory(from: payload.baseAddress!, byteCount: len) }
                        if span.stream.isAlert { ao += Self.headerBytes + len } else { lo += Self.headerBytes + len }
                        offset += len
                    }
                }
            }
        }
        var ok = true
        if alertCount > 0 {
            ok = alerts.withUnsafeBytes { writeFrames(lane: 0, bytes: UnsafeRawBufferPointer(rebasing: $0[..<alertBytes]), count: alertCount) } && ok
        }
        if logCount > 0 {
            ok = logs.withUnsafeBytes { writeFrames(lane: 1, bytes: UnsafeRawBufferPointer(rebasing: $0[..<logBytes]), count: logCount) } && ok
        }
        // Bounded scratch: a buffer grown by one unusually large chunk is not kept.
        if alerts.count > Self.keptScratchBytes { alerts = [] }
        if logs.count > Self.keptScratchBytes { logs = [] }
        enforceMaxSize()
        return ok
    }

    private func writeFrames(lane: Int, bytes raw: UnsafeRawBufferPointer, count: Int) -> Bool {
        let segmentSize = settings.effectiveSegmentSize
        return state.withLock { s -> Bool in
            if s.lanes[lane].segments.last!.bytes >= segmentSize { rotate(&s.lanes[lane]) }
            let fd = s.lanes[lane].writeFD
            var written = 0
            var failure: Int32 = 0
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; failure = errno; break }
                written += n
            }
            let i = s.lanes[lane].segments.count - 1
            if failure != 0 {
                // Cut a partial frame so the segment stays readable; the documents are lost (counted).
                _ = ftruncate(fd, off_t(s.lanes[lane].segments[i].bytes))
                if lane == 0 { s.droppedAlerts += UInt64(count) } else { s.droppedLogs += UInt64(count) }
                log(.error, "disk queue write failed (\(String(cString: strerror(failure)))); \(count) documents dropped")
                return false
            }
            s.lanes[lane].segments[i].bytes += Int64(raw.count)
            s.lanes[lane].segments[i].frames += count
            s.lanes[lane].unacked += count
            s.lanes[lane].dirty = true
            s.totalBytes += Int64(raw.count)
            return true
        }
    }

    private func rotate(_ lane: inout Lane) {
        if lane.dirty { fdatasync(lane.writeFD); lane.dirty = false }
        Glibc.close(lane.writeFD)
        let next = lane.segments.last!.id + 1
        let path = Self.segmentPath(lane.directory, next)
        lane.writeFD = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if lane.writeFD < 0 { log(.error, "disk queue: cannot create \(path): \(String(cString: strerror(errno)))") }
        lane.segments.append(Segment(id: next, bytes: 0, frames: 0))
        Self.fsyncDirectory(lane.directory)
    }

    /// fsyncs written documents if `syncInterval` has passed (called by the output thread's tick).
    public func syncIfDue() {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { s in
            guard Double(now &- s.lastSync) / 1e9 >= settings.syncInterval else { return }
            s.lastSync = now
            for i in s.lanes.indices where s.lanes[i].dirty {
                fdatasync(s.lanes[i].writeFD)
                s.lanes[i].dirty = false
            }
        }
    }

    /// Drops whole segments past `maxSize`: logs first, oldest first; then alerts. Never the segment
    /// the sender reads from (its documents may be in flight).
    private func enforceMaxSize() {
        state.withLock { s in
            while s.totalBytes > settings.maxSize {
                var dropped = false
                for lane in [1, 0] {
                    guard let index = s.lanes[lane].segments.firstIndex(where: { $0.id > s.lanes[lane].read.segment }) else { continue }
                    if index == s.lanes[lane].segments.count - 1 {
                        guard s.lanes[lane].segments[index].frames > 0 else { continue }
                        rotate(&s.lanes[lane])
                    }
                    let seg = s.lanes[lane].segments.remove(at: index)
                    unlink(Self.segmentPath(s.lanes[lane].directory, seg.id))
                    s.totalBytes -= seg.bytes
                    s.lanes[lane].unacked -= seg.frames
                    if lane == 0 { s.droppedAlerts += UInt64(seg.frames) } else { s.droppedLogs += UInt64(seg.frames) }
                    log(.warning, "disk queue full (\(settings.maxSize) bytes): dropped the oldest \(seg.frames) "
                        + (lane == 0 ? "alert" : "log") + " documents")
                    dropped = true
                    break
                }
                if !dropped { break }
            }
        }
    }

    // MARK: reader (the sender thread)

    /// The next documents of `lane` after those already read, up to `maxDocuments` / `maxBytes`
    /// (at least one document). nil when nothing is waiting.
    public func nextBatch(lane kind: QueueLaneKind, maxDocuments: Int, maxBytes: Int) -> QueueBatch? {
        let lane = kind.rawValue
        return state.withLock { s -> QueueBatch? in
            while true {
                let read = s.lanes[lane].read
                guard let segIndex = s.lanes[lane].segments.firstIndex(where: { $0.id >= read.segment }) else { return nil }
                let seg = s.lanes[lane].segments[segIndex]
                if seg.id != read.segment { s.lanes[lane].read = QueuePosition(segment: seg.id, offset: 0); s.lanes[lane].framesRead = 0 }
                let offset = s.lanes[lane].read.offset
                if offset >= seg.bytes {
                    guard segIndex + 1 < s.lanes[lane].segments.count else { return nil }
                    s.lanes[lane].read = QueuePosition(segment: s.lanes[lane].segments[segIndex + 1].id, offset: 0)
                    s.lanes[lane].framesRead = 0
                    continue
                }
                if s.lanes[lane].readFDSegment != seg.id {
                    if s.lanes[lane].readFD >= 0 { Glibc.close(s.lanes[lane].readFD) }
                    s.lanes[lane].readFD = open(Self.segmentPath(s.lanes[lane].directory, seg.id), O_RDONLY | O_CLOEXEC)
                    s.lanes[lane].readFDSegment = seg.id
                }
                let fd = s.lanes[lane].readFD
                // The segment is read in blocks into a reused buffer (no zero-filled allocation per
                // batch, nothing read twice); each frame's payload is checked against its CRC and
                // copied once into the batch.
                let segmentEnd = seg.bytes
                var buffer = readBuffer
                readBuffer = []
                defer { readBuffer = buffer.count > Self.keptScratchBytes ? [] : buffer }
                if buffer.count < Self.readBlockBytes { buffer = [UInt8](repeating: 0, count: Self.readBlockBytes) }
                var base = offset      // file offset of buffer[0]
                var filled = 0         // bytes of buffer holding the file from `base`
                var pos = 0            // next frame in buffer
                var readFailed = false
                var batchBytes = spareBatchBytes
                spareBatchBytes = []
                batchBytes.removeAll(keepingCapacity: true)
                var spans: [DocumentSpan] = []
                spans.reserveCapacity(min(maxDocuments, 4096))
                /// Makes buffer[pos..<pos+need] hold the file (need <= what is left of the segment).
                func ensure(_ need: Int) -> Bool {
                    if filled - pos >= need { return true }
                    if pos > 0 {
                        let keep = filled - pos
                        if keep > 0 {
                            buffer.withUnsafeMutableBytes { b in
                                (b.baseAddress!).copyMemory(from: b.baseAddress! + pos, byteCount: keep)
                            }
                        }
                        base += Int64(pos); filled = keep; pos = 0
                    }
                    if buffer.count < need { buffer.append(contentsOf: repeatElement(0, count: need - buffer.count)) }
                    // Read what this batch is likely to need (from the frames seen so far), at least `need`.
                    let average = spans.isEmpty ? 2048 : Int(base + Int64(pos) - offset) / spans.count + 1
                    let likely = (maxDocuments - spans.count) * average + Self.headerBytes
                    let wanted = min(buffer.count, max(need, min(likely, maxBytes - batchBytes.count + 64 * Self.headerBytes)))
                    let target = min(wanted, Int(segmentEnd - base))
                    while filled < target {
                        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, target - filled, off_t(base) + off_t(filled)) }
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { readFailed = true; return false }
                        filled += n
                    }
                    return filled - pos >= need
                }
                while spans.count < maxDocuments, base + Int64(pos) + Int64(Self.headerBytes) <= segmentEnd {
                    guard ensure(Self.headerBytes) else { break }
                    let (len, crc, meta) = buffer.withUnsafeBytes { b -> (Int, UInt32, UInt32) in
                        (Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: UInt32.self))),
                         UInt32(littleEndian: b.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self)),
                         UInt32(littleEndian: b.loadUnaligned(fromByteOffset: pos + 8, as: UInt32.self)))
                    }
                    let frameEnd = base + Int64(pos + Self.headerBytes + len)
                    var ok = len > 0 && len <= Self.maxFrameBytes && frameEnd <= segmentEnd
                    if ok {
                        if !spans.isEmpty, batchBytes.count + len > maxBytes { break }
                        guard ensure(Self.headerBytes + len) else { break }
                        let start = pos + Self.headerBytes
                        ok = buffer.withUnsafeBytes { Self.checksum(meta: meta, payload: UnsafeRawBufferPointer(rebasing: $0[start..<start + len])) } == crc
                        if ok {
                            if batchBytes.isEmpty, batchBytes.capacity < min(maxBytes, maxDocuments * (len + 64)) + len {
                                // About what the batch will hold, so that it grows rarely.
                                batchBytes.reserveCapacity(min(maxBytes, maxDocuments * (len + 64)) + len)
                            }
                            buffer.withUnsafeBytes { batchBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[start..<start + len])) }
                            spans.append(Self.span(meta: meta, length: len))
                            pos = start + len
                            continue
                        }
                    }
                    // Corrupt in the middle (not a torn tail): skip the rest of this segment, counted.
                    let lost = seg.frames - s.lanes[lane].framesRead - spans.count
                    log(.error, "disk queue: corrupt frame in segment \(seg.id); \(lost) documents skipped")
                    s.corrupt += UInt64(max(lost, 0))
                    s.lanes[lane].unacked -= max(lost, 0)
                    s.lanes[lane].segments[segIndex].bytes = base + Int64(pos)
                    s.lanes[lane].segments[segIndex].frames = s.lanes[lane].framesRead + spans.count
                    break
                }
                if readFailed {
                    log(.error, "disk queue: cannot read segment \(seg.id): \(String(cString: strerror(errno)))")
                    if spans.isEmpty { spareBatchBytes = batchBytes; return nil }
                }
                let pos64 = base + Int64(pos)
                guard !spans.isEmpty else { spareBatchBytes = batchBytes; return nil }
                s.lanes[lane].read.offset = pos64
                s.lanes[lane].framesRead += spans.count
                return QueueBatch(lane: kind, bytes: batchBytes, spans: spans, end: s.lanes[lane].read)
            }
        }
    }

    private static func span(meta: UInt32, length: Int) -> DocumentSpan {
        let id = meta >> 8
        return DocumentSpan(length: Int32(length), idOffset: id == 0xFF_FFFF ? -1 : Int32(id),
                            stream: DataStreamKind(rawValue: UInt8(meta & 0xff)) ?? .process)
    }

    /// The batch's documents are delivered (or dead-lettered): the position moves past them.
    /// Fully acknowledged segments are deleted once the position is on disk.
    public func ack(_ batch: QueueBatch, persistNow: Bool = false) {
        state.withLock { s in
            let lane = batch.lane.rawValue
            if batch.end > s.lanes[lane].ack { s.lanes[lane].ack = batch.end }
            s.lanes[lane].unacked -= batch.spans.count
            if persistNow { persist(&s, lane: lane) }
        }
    }

    /// Takes back the bytes of a batch the sender is done with (reused by the next `nextBatch`).
    public func recycle(_ batch: inout QueueBatch) {
        var bytes = batch.bytes
        batch.bytes = []
        guard bytes.capacity <= Self.keptScratchBytes else { return }
        bytes.removeAll(keepingCapacity: true)
        state.withLock { _ in spareBatchBytes = bytes }
    }

    /// Persists acknowledged positions and deletes sent segments (sender thread, rate-limited by it).
    public func persistAcks() {
        state.withLock { s in
            for lane in s.lanes.indices { persist(&s, lane: lane) }
        }
    }

    private func persist(_ s: inout State, lane: Int) {
        let ack = s.lanes[lane].ack
        guard ack != s.lanes[lane].ackPersisted else { return }
        guard Self.writeAck(s.lanes[lane].directory, ack) else {
            log(.error, "disk queue: cannot persist the acknowledged position in \(s.lanes[lane].directory)")
            return
        }
        s.lanes[lane].ackPersisted = ack
        while let first = s.lanes[lane].segments.first, first.id < ack.segment {
            s.lanes[lane].segments.removeFirst()
            unlink(Self.segmentPath(s.lanes[lane].directory, first.id))
            s.totalBytes -= first.bytes
        }
        // A fully sent segment that is not the write segment can go too.
        if let first = s.lanes[lane].segments.first, first.id == ack.segment, ack.offset >= first.bytes,
           s.lanes[lane].segments.count > 1 {
            s.lanes[lane].segments.removeFirst()
            unlink(Self.segmentPath(s.lanes[lane].directory, first.id))
            s.totalBytes -= first.bytes
        }
    }

    /// fsync, persist positions, close files.
    public func close() {
        state.withLock { s in
            guard !s.closed else { return }
            s.closed = true
            for i in s.lanes.indices {
                if s.lanes[i].dirty { fdatasync(s.lanes[i].writeFD) }
                persist(&s, lane: i)
                Glibc.close(s.lanes[i].writeFD)
                if s.lanes[i].readFD >= 0 { Glibc.close(s.lanes[i].readFD) }
            }
        }
    }

    public struct Counters: Sendable {
        public var queuedDocuments: UInt64
        public var bytes: UInt64
        public var droppedLogs: UInt64
        public var droppedAlerts: UInt64
        public var corrupt: UInt64
    }

    public var counters: Counters {
        state.withLock { s in
            Counters(queuedDocuments: UInt64(max(0, s.lanes.reduce(0) { $0 + $1.unacked })),
                     bytes: UInt64(max(0, s.totalBytes)), droppedLogs: s.droppedLogs, droppedAlerts: s.droppedAlerts,
                     corrupt: s.corrupt)
        }
    }

    /// Documents written and not yet read by the sender, per lane (the sender's wake-up test).
    public func hasUnread(_ kind: QueueLaneKind) -> Bool {
        state.withLock { s in
            let lane = s.lanes[kind.rawValue]
            guard let last = lane.segments.last else { return false }
            return lane.read.segment < last.id || lane.read.offset < last.bytes
        }
    }
}
