#if canImport(Glibc)
import Glibc
#endif

/// Reads small configuration/state files (a policy, the agent id) safely: only a regular file is
/// read, so a FIFO, a device or a socket put in its place can never block the reader; the file is
/// opened non-blocking and checked with `fstat` on the opened descriptor (no check-then-open race).
/// Errors are plain sentences (the `errno` meaning), never a framework's error dump.
public enum RegularFile {
    public enum ReadError: Error, Sendable, Hashable, CustomStringConvertible {
        /// `open(2)` failed; `reason` says why in words (no such file, a symlink loop, permission denied…).
        case cannotOpen(reason: String)
        /// The path names something other than a regular file (`kind`: "a directory", "a FIFO (named pipe)"…).
        case notRegular(kind: String)
        /// Larger than the caller's limit (`limit` bytes).
        case tooLarge(limit: Int)
        case cannotRead(reason: String)

        public var description: String {
            switch self {
            case .cannotOpen(let reason): return reason
            case .notRegular(let kind): return "is \(kind), not a regular file"
            case .tooLarge(let limit): return "the file is larger than \(limit) bytes"
            case .cannotRead(let reason): return "cannot read the file: \(reason)"
            }
        }
    }

    /// The whole content of the regular file at `path`, at most `maxBytes` bytes.
    public static func read(path: String, maxBytes: Int) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .cannotOpen(reason: openFailure(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotRead(reason: describe(errno)) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notRegular(kind: kind(st.st_mode)) }
        if st.st_size > maxBytes { throw .tooLarge(limit: maxBytes) }
        // Read up to one byte past the limit: the file may grow between fstat and read.
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count <= maxBytes {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(reason: describe(errno))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        if bytes.count > maxBytes { throw .tooLarge(limit: maxBytes) }
        return bytes
    }

    /// What an `open(2)` failure means for someone who named the file.
    public static func openFailure(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case ELOOP: return "too many levels of symbolic links (a symlink loop?)"
        case EACCES, EPERM: return "permission denied"
        case ENOTDIR: return "a component of the path is not a directory"
        case ENAMETOOLONG: return "the path is too long"
        case EISDIR: return "is a directory, not a regular file"
        default: return "cannot open the file: \(describe(code))"
        }
    }

    static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text).lowercased()
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        default: return "not a regular file"
        }
    }
}
