import ArgumentParser
import DefendTelemetry
import Logging

/// `--log-format` and `--log-level`, shared by the commands that log diagnostics.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Diagnostics on stderr: text (for terminals) or json (one object per line, for log collectors).",
                                            valueName: "text|json"))
    var logFormat: String = "text"

    @Option(name: .long, help: ArgumentHelp("Least severe diagnostics shown: \(Logger.Level.names.joined(separator: ", ")).",
                                            valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard LogFormat(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be 'text' or 'json', not '\(logFormat)'")
        }
        guard Logger.Level(name: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.names.joined(separator: ", ")), not '\(logLevel)'")
        }
    }

    func apply() {
        DiagnosticLogging.configure(.init(format: LogFormat(rawValue: logFormat) ?? .text,
                                          level: Logger.Level(name: logLevel) ?? .info))
    }
}
