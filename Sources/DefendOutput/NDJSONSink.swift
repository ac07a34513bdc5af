import DefendECS
import Foundation

/// Where finished NDJSON documents go, fed by the event pipeline on its thread. Implementations
/// must not block that thread on I/O (the kernel reader): `OutputThread` hands documents to a
/// `DocumentOutput` on its own thread.
public protocol DocumentSink: AnyObject {
    /// Appends complete NDJSON lines (each ends in "\n"), described one by one by `spans`.
    func append(_ lines: UnsafeRawBufferPointer, spans: UnsafeBufferPointer<DocumentSpan>)
    /// Pushes buffered lines towards their destination.
    func flush()
    /// Reopens files (SIGHUP after a log rotation).
    func reopen()
    /// Stops: documents are delivered, queued on disk, or counted as dropped when this returns.
    func close()
    var statistics: SinkStatistics { get }
}

extension DocumentSink {
    public func reopen() {}

    /// Appends one document.
    public func append(_ line: [UInt8], span: DocumentSpan) {
        var span = span
        line.withUnsafeBytes { bytes in
            withUnsafePointer(to: &span) { append(bytes, spans: UnsafeBufferPointer(start: $0, count: 1)) }
        }
    }
}

public struct SinkStatistics: Sendable, Hashable {
    /// Documents delivered: written to the file, or acknowledged by Elasticsearch (409 included).
    public var documentsWritten: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    /// Documents lost, every cause included (full hand-off, full queue, write errors).
    public var documentsDropped: UInt64 = 0
    /// Of the dropped: log and alert documents dropped under pressure (hand-off or disk queue full).
    public var droppedLogs: UInt64 = 0
    public var droppedAlerts: UInt64 = 0
    /// Refused by Elasticsearch for their content and written to the dead-letter file.
    public var documentsDeadLettered: UInt64 = 0
    /// Waiting in the disk queue (written, not yet acknowledged).
    public var documentsQueued: UInt64 = 0
    public var queueBytes: UInt64 = 0
    /// Retried bulk requests or items (429, 5xx, network errors).
    public var retries: UInt64 = 0
    /// Bulk requests made (answered or not) and the time they took, summed.
    public var bulkRequests: UInt64 = 0
    public var bulkLatencySecondsSum: Double = 0
    public var lastError: String?
    /// The destination refuses everything right now (last attempt failed, nothing succeeded since).
    public var failing: Bool = false
    public init() {}
}

public enum SinkError: Error, CustomStringConvertible, Sendable {
    case cannotOpen(path: String, errno: Int32)
    case invalidSetting(String)
    case queue(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, code):
            return "cannot open output \(path): \(String(cString: strerror(code)))"
        case .invalidSetting(let s): return s
        case .queue(let s): return "disk queue: \(s)"
        }
    }
}

/// Diagnostics from outputs (the agent routes them to its log).
public enum OutputLogLevel: Sendable { case info, warning, error }
public typealias OutputLogger = @Sendable (OutputLogLevel, String) -> Void
