import ArgumentParser
import DefendTelemetry
import Logging

/// `--log-format` and `--log-level`, shared by the commands that log diagnostics.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Diagnostics on stderr: text (for terminals) or json (one object per line, for log collectors).",
                                            valueName: "text|json"))
    var logFormat: String?

    @Option(name: .long, help: ArgumentHelp("Least severe diagnostics shown: \(Logger.Level.names.joined(separator: ", ")).",
                                            valueName: "level"))
    var logLevel: String?

    func validate() throws {
        if let logFormat, LogFormat(rawValue: logFormat) == nil {
            throw ValidationError("--log-format must be 'text' or 'json', not '\(logFormat)'")
        }
        if let logLevel, Logger.Level(name: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(Logger.Level.names.joined(separator: ", ")), not '\(logLevel)'")
        }
    }

    /// Flags first, then (already validated) values of a configuration file, then text at info.
    func apply(fileFormat: String? = nil, fileLevel: String? = nil) {
        DiagnosticLogging.configure(.init(format: (logFormat ?? fileFormat).flatMap(LogFormat.init(rawValue:)) ?? .text,
                                          level: (logLevel ?? fileLevel).flatMap { Logger.Level(name: $0) } ?? .info))
    }
}
