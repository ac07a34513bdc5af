import DefendTelemetry
import Logging

/// Agent diagnostics through swift-log, on standard error, one line each: `defend: LEVEL: message`
/// (`--log-format text`) or one JSON object (`--log-format json`). Events never go here; they go to
/// the document sink. Never pass a credential in a message: metadata keys that name one
/// (password, token, api_key, ...) are redacted, message text is not.
public enum AgentLog {
    public enum Level: String, Sendable { case debug, info, warning, error }

    public static func debug(_ message: @autoclosure () -> String) { emit(.debug, message()) }
    public static func info(_ message: String) { emit(.info, message) }
    public static func warning(_ message: String) { emit(.warning, message) }
    public static func error(_ message: String) { emit(.error, message) }

    static func emit(_ level: Level, _ message: String, metadata: Logger.Metadata? = nil) {
        // A logger per message: diagnostics are rare, and it follows the settings in force.
        let logger = DiagnosticLogging.logger()
        switch level {
        case .debug: logger.debug("\(message)", metadata: metadata)
        case .info: logger.info("\(message)", metadata: metadata)
        case .warning: logger.warning("\(message)", metadata: metadata)
        case .error: logger.error("\(message)", metadata: metadata)
        }
    }
}
