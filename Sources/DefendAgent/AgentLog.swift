#if canImport(Glibc)
import Glibc
#endif

/// Agent diagnostics on standard error, one line each: `defend: LEVEL: message`.
/// Events never go here; they go to the document sink.
public enum AgentLog {
    public enum Level: String, Sendable { case info, warning, error }

    public static func info(_ message: String) { emit(.info, message) }
    public static func warning(_ message: String) { emit(.warning, message) }
    public static func error(_ message: String) { emit(.error, message) }

    static func emit(_ level: Level, _ message: String) {
        let line = "defend: \(level.rawValue): \(message)\n"
        line.utf8CString.withUnsafeBufferPointer { buf in
            _ = write(STDERR_FILENO, buf.baseAddress, buf.count - 1)
        }
    }
}
