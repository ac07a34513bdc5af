import DefendECS
import Foundation
import Synchronization

/// NDJSON to standard output or a file (append). A line is written whole or not at all: after a
/// short write (full file system) the file is cut back to the last whole line, so the next line
/// never glues onto a torn one, and the counts say exactly which documents are on disk.
/// A replaced or deleted file is noticed (checked every second) and reopened; so is SIGHUP.
public final class NDJSONFileOutput: DocumentOutput, @unchecked Sendable {
    /// nil for standard output.
    public let path: String?
    private var fd: Int32
    private var identity: (dev: UInt64, ino: UInt64)?
    private let log: OutputLogger
    private let stats = Mutex(SinkStatistics())
    private var failingSince: UInt64?
    private var reportedPersistent = false
    private var lastCheck: UInt64 = 0
    /// A failure lasting this long is reported as an error (not only the first warning).
    public var persistentFailureSeconds: Double = 10

    public init(path: String?, log: @escaping OutputLogger) throws(SinkError) {
        self.log = log
        if let path, path != "-" {
            self.path = path
            fd = -1
            fd = try Self.open(path)
            identity = Self.identity(fd)
        } else {
            self.path = nil
            fd = STDOUT_FILENO
        }
    }

    private static func open(_ path: String) throws(SinkError) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        return fd
    }

    private static func identity(_ fd: Int32) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    public var statistics: SinkStatistics { stats.withLock { $0 } }

    public func write(_ chunk: DocumentChunk) {
        if fd < 0 { reopen() }
        guard fd >= 0 else {
            failed(documents: chunk.spans.count, error: "output file \(path ?? "-") is not open")
            return
        }
        var isRegular = false
        var st = stat()
        if fstat(fd, &st) == 0 { isRegular = (st.st_mode & S_IFMT) == S_IFREG }
        let start = isRegular ? lseek(fd, 0, SEEK_END) : 0
        var written = 0
        var failure: Int32 = 0
        chunk.bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { failure = EIO; return }
                written += n
            }
        }
        if failure == 0 {
            succeeded(documents: chunk.spans.count, bytes: chunk.bytes.count)
            return
        }
        // Whole lines within what reached the file stay; a torn last line is cut off.
        var whole = 0
        var wholeBytes = 0
        for span in chunk.spans {
            guard wholeBytes + Int(span.length) <= written else { break }
            wholeBytes += Int(span.length)
            whole += 1
        }
        if isRegular, written > wholeBytes, start >= 0 {
            if ftruncate(fd, off_t(start) + off_t(wholeBytes)) != 0 {
                log(.error, "output \(path ?? "-"): cannot cut a torn line after a failed write: \(String(cString: strerror(errno)))")
            }
        }
        if whole > 0 { succeeded(documents: whole, bytes: wholeBytes) }
        failed(documents: chunk.spans.count - whole, error: String(cString: strerror(failure)))
    }

    private func succeeded(documents: Int, bytes: Int) {
        stats.withLock {
            $0.documentsWritten += UInt64(documents)
            $0.bytesWritten += UInt64(bytes)
            $0.failing = false
        }
        if failingSince != nil {
            log(.info, "output \(path ?? "standard output") writes again")
            failingSince = nil
            reportedPersistent = false
        }
    }

    private func failed(documents: Int, error: String) {
        stats.withLock {
            $0.documentsDropped += UInt64(documents)
            $0.lastError = error
            $0.failing = true
        }
        let now = DispatchTime.now().uptimeNanoseconds
        if let since = failingSince {
            if !reportedPersistent, Double(now &- since) / 1e9 >= persistentFailureSeconds {
                reportedPersistent = true
                log(.error, "output \(path ?? "standard output") has failed for \(Int(persistentFailureSeconds)) s "
                    + "(\(error)); documents are being dropped and counted")
            }
        } else {
            failingSince = now
            log(.warning, "output \(path ?? "standard output"): write failed (\(error)); \(documents) documents dropped")
        }
    }

    public func tick() {
        guard let path else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now &- lastCheck >= 1_000_000_000 else { return }
        lastCheck = now
        var st = stat()
        if stat(path, &st) != 0 {
            log(.info, "output file \(path) was deleted; creating it again")
            reopen()
        } else if let id = identity, id.dev != UInt64(st.st_dev) || id.ino != UInt64(st.st_ino) {
            log(.info, "output file \(path) was replaced; reopening it")
            reopen()
        }
    }

    public func reopen() {
        guard let path else { return }
        // The new descriptor first, without blocking: a FIFO whose reader is gone must not hang the
        // output thread (and with it SIGTERM) in open(2), and closing the old descriptor first would
        // hand a FIFO's reader an end of file before the new writer exists.
        let new = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0o640)
        guard new >= 0 else {
            let error = SinkError.cannotOpen(path: path, errno: errno)
            stats.withLock { $0.lastError = error.description; $0.failing = true }
            log(.warning, error.description + (fd >= 0 ? "; writing on to the previous one" : ""))
            return
        }
        let flags = fcntl(new, F_GETFL)
        if flags >= 0 { _ = fcntl(new, F_SETFL, flags & ~O_NONBLOCK) }
        if fd >= 0 { Glibc.close(fd) }
        fd = new
        identity = Self.identity(fd)
    }

    public func close(deadline: Double) {
        if path != nil, fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
