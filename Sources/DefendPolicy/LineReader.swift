#if canImport(Glibc)
import Glibc
#endif

/// Reads lines from a file descriptor in bounded memory, for `defend policy test` input: a line
/// ends at "\n" and a "\r" before it is dropped (CRLF files); a line longer than `maxLineBytes`
/// is skipped whole and reported with its number instead of being buffered.
public struct LineReader {
    public enum Item: Equatable {
        case line(number: Int, text: String)
        /// The line could not be used; `message` says why (too long, not UTF-8).
        case bad(number: Int, message: String)
    }

    public struct ReadError: Error, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): cannot read: \(reason)" }
    }

    public let fd: Int32
    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    /// Where the next line starts in `buffer` (consumed bytes are dropped before each read).
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    private var lineNumber = 0
    private var eof = false
    /// Bytes of the current over-long line dropped so far (nil: not in an over-long line).
    private var discarding: Int?

    public init(fd: Int32, maxLineBytes: Int) {
        self.fd = fd
        self.maxLineBytes = maxLineBytes
    }

    public mutating func next() throws(ReadError) -> Item? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                lineNumber += 1
                defer { start = nl + 1 }
                if let dropped = discarding {
                    discarding = nil
                    return tooLong(dropped + nl - start)
                }
                return item(buffer[start..<nl])
            }
            if eof {
                let rest = buffer.count - start
                if let dropped = discarding {
                    discarding = nil
                    lineNumber += 1
                    start = buffer.count
                    return tooLong(dropped + rest)
                }
                if rest == 0 { return nil }
                lineNumber += 1
                defer { start = buffer.count }
                return item(buffer[start...])
            }
            // No newline yet: keep at most one line's worth buffered.
            buffer.removeSubrange(0..<start)
            start = 0
            if discarding != nil || buffer.count > maxLineBytes + 1 {
                discarding = (discarding ?? 0) + buffer.count
                buffer = []
            }
            try fill()
        }
    }

    private mutating func fill() throws(ReadError) {
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return
            }
            if n == 0 {
                eof = true
                return
            }
            if errno == EINTR { continue }
            throw ReadError(line: lineNumber + 1, reason: String(cString: strerror(errno)))
        }
    }

    private func tooLong(_ bytes: Int) -> Item {
        .bad(number: lineNumber, message: "the line is \(bytes) bytes long; at most \(maxLineBytes) are allowed")
    }

    private func item(_ bytes: ArraySlice<UInt8>) -> Item {
        var bytes = bytes
        if bytes.last == 0x0D { bytes.removeLast() }
        if bytes.count > maxLineBytes { return tooLong(bytes.count) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .bad(number: lineNumber, message: "the line is not valid UTF-8")
        }
        return .line(number: lineNumber, text: text)
    }
}
