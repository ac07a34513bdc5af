/// Splits a byte stream into newline-terminated lines (the API server writes one JSON watch event
/// per line), whatever the chunking: a chunk may hold several events or part of one. The pending
/// partial line is bounded: a line longer than `maxLineBytes` is an error (the caller drops the watch).
public struct LineSplitter: Sendable {
    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    public struct LineTooLong: Error, CustomStringConvertible {
        public let limit: Int
        public var description: String { "a watch event is longer than \(limit) bytes" }
    }

    /// Feeds `bytes`; calls `line` with each complete line (without the newline; empty lines skipped).
    public mutating func feed<C: Collection>(_ bytes: C, line: (ArraySlice<UInt8>) throws -> Void) throws
        where C.Element == UInt8 {
        var start = bytes.startIndex
        var i = start
        while i != bytes.endIndex {
            if bytes[i] == 0x0A {
                if pending.isEmpty {
                    let slice = ArraySlice(bytes[start..<i])
                    if !slice.isEmpty { try line(slice) }
                } else {
                    pending.append(contentsOf: bytes[start..<i])
                    guard pending.count <= maxLineBytes else { throw LineTooLong(limit: maxLineBytes) }
                    let whole = pending[...]
                    pending = []
                    try line(whole)
                }
                start = bytes.index(after: i)
            }
            i = bytes.index(after: i)
        }
        if start != bytes.endIndex {
            pending.append(contentsOf: bytes[start...])
            if pending.count > maxLineBytes { throw LineTooLong(limit: maxLineBytes) }
        }
    }

    /// Bytes of an unfinished line (a stream that ends here was cut mid-event).
    public var pendingBytes: Int { pending.count }
}
