#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// `--log-format`: `text` for a terminal (`defend: LEVEL: message key=value`), `json` for log
/// collectors (one ECS-style object per line: `@timestamp`, `log.level`, `log.logger`, `message`,
/// then the metadata).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// A swift-log handler writing one line per message to a file descriptor (standard error by default),
/// with one write(2) per line so lines from several threads never interleave.
public struct DiagnosticLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: LogFormat
    let fd: Int32

    public init(label: String, format: LogFormat, level: Logger.Level, fd: Int32 = STDERR_FILENO) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.fd = fd
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line = format == .json
            ? Self.jsonLine(level: event.level, message: event.message.description, metadata: merged, logger: label,
                            unixNs: Self.nowUnixNs())
            : Self.textLine(level: event.level, message: event.message.description, metadata: merged)
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }

    /// Metadata keys whose values are never written (credentials given to the agent through metadata
    /// by mistake). Matching is by substring of the lower-cased key.
    static let secretKeyParts = ["password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "credential", "cookie"]

    static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return secretKeyParts.contains { k.contains($0) }
    }

    static func render(_ value: Logger.Metadata.Value, key: String) -> String {
        isSecret(key) ? "[REDACTED]" : value.description
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: return "trace"
        case .debug: return "debug"
        case .info: return "info"
        case .notice: return "notice"
        case .warning: return "warning"
        case .error: return "error"
        case .critical: return "critical"
        }
    }

    static func textLine(level: Logger.Level, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var s = "defend: \(levelName(level)): \(message)"
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            s += " \(key)=\(render(value, key: key))"
        }
        s += "\n"
        return Array(s.utf8)
    }

    static func jsonLine(level: Logger.Level, message: String, metadata: Logger.Metadata, logger: String,
                         unixNs: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count + 128)
        out.append(contentsOf: #"{"@timestamp":""#.utf8)
        out.append(contentsOf: timestamp(unixNs).utf8)
        out.append(contentsOf: #"","log.level":""#.utf8)
        out.append(contentsOf: levelName(level).utf8)
        out.append(contentsOf: #"","log.logger":"#.utf8)
        appendJSONString(logger, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        appendJSONString(message, to: &out)
        for key in metadata.keys.sorted() where !["@timestamp", "log.level", "log.logger", "message"].contains(key) {
            guard let value = metadata[key] else { continue }
            out.append(UInt8(ascii: ","))
            appendJSONString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendJSONString(render(value, key: key), to: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(_ unixNs: UInt64) -> String {
        var seconds = time_t(unixNs / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let millis = Int32((unixNs / 1_000_000) % 1000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }

    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, 0x7f:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xf)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func nowUnixNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

extension Logger.Level {
    /// `--log-level` values, in increasing severity.
    public static let names = Logger.Level.allCases.map(DiagnosticLogHandler.levelName)

    public init?(name: String) {
        guard let level = Logger.Level.allCases.first(where: { DiagnosticLogHandler.levelName($0) == name.lowercased() }) else {
            return nil
        }
        self = level
    }
}

/// The process-wide log configuration, set once by the command line before the agent starts.
/// Handlers read it when they are made, so `logger(label:)` after `configure` follows it; swift-log's
/// global factory is pointed here too, so no library logs to standard output (the document stream).
public enum DiagnosticLogging {
    public struct Settings: Sendable, Hashable {
        public var format: LogFormat = .text
        public var level: Logger.Level = .info
        public var fd: Int32 = STDERR_FILENO
        public init(format: LogFormat = .text, level: Logger.Level = .info) { self.format = format; self.level = level }
    }

    private static let settings = Mutex(Settings())
    private static let bootstrapped = Mutex(false)

    public static func configure(_ new: Settings) {
        settings.withLock { $0 = new }
        let first = bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        // swift-log allows one bootstrap per process; its factory reads the settings, so later
        // `configure` calls (tests running several commands in one process) still take effect.
        if first { LoggingSystem.bootstrap { label in handler(label: label) } }
    }

    public static var current: Settings { settings.withLock { $0 } }

    public static func handler(label: String) -> DiagnosticLogHandler {
        let s = current
        return DiagnosticLogHandler(label: label, format: s.format, level: s.level, fd: s.fd)
    }

    public static func logger(label: String = "defend") -> Logger {
        Logger(label: label, factory: { handler(label: $0) })
    }
}
