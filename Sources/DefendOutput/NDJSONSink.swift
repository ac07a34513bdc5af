#if canImport(Glibc)
import Glibc
#endif

/// Where finished NDJSON documents go. Lines are appended whole (each ends in "\n").
public protocol DocumentSink: AnyObject {
    /// Appends complete NDJSON lines. Blocking writers apply back-pressure by blocking here.
    func append(_ lines: UnsafeRawBufferPointer, documents: Int)
    /// Pushes buffered lines to their destination.
    func flush()
    func close()
    var statistics: SinkStatistics { get }
}

public struct SinkStatistics: Sendable, Hashable {
    public var documentsWritten: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    /// Documents that could not be written (destination error); every one is counted.
    public var documentsDropped: UInt64 = 0
    public var lastError: String?
    public init() {}
}

public enum SinkError: Error, CustomStringConvertible, Sendable {
    case cannotOpen(path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .cannotOpen(path, code):
            return "cannot open output \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// Buffered NDJSON writer to a file descriptor (stdout or a file opened for append).
/// Writes happen when the buffer passes `flushThreshold` or on `flush()`: one write(2) per batch,
/// not per document. A failing destination drops (and counts) the batch instead of growing memory.
public final class FileDescriptorSink: DocumentSink {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private var bufferedDocuments = 0
    private let flushThreshold: Int
    public private(set) var statistics = SinkStatistics()

    /// `path` nil or "-" means standard output.
    public init(path: String?, flushThreshold: Int = 256 * 1024) throws(SinkError) {
        if let path, path != "-" {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
            self.fd = fd
            self.ownsDescriptor = true
        } else {
            self.fd = STDOUT_FILENO
            self.ownsDescriptor = false
        }
        self.flushThreshold = flushThreshold
        buffer.reserveCapacity(flushThreshold + 64 * 1024)
    }

    public func append(_ lines: UnsafeRawBufferPointer, documents: Int) {
        buffer.append(contentsOf: lines)
        bufferedDocuments += documents
        if buffer.count >= flushThreshold { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty else { return }
        var failed = false
        buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    statistics.lastError = String(cString: strerror(errno))
                    failed = true
                    return
                }
                offset += n
            }
        }
        if failed {
            statistics.documentsDropped += UInt64(bufferedDocuments)
        } else {
            statistics.documentsWritten += UInt64(bufferedDocuments)
            statistics.bytesWritten += UInt64(buffer.count)
        }
        buffer.removeAll(keepingCapacity: true)
        bufferedDocuments = 0
    }

    public func close() {
        flush()
        if ownsDescriptor { _ = Glibc.close(fd) }
    }
}
