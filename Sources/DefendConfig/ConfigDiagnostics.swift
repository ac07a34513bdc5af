/// A place in a configuration file (1-based line and column; 0 when about the whole file).
public struct ConfigLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file; self.line = line; self.column = column
    }

    public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// One finding about a configuration file, printed as `FILE:LINE:COL: error: KEY: message`.
/// Messages never carry the value of a secret key (the key schema knows which keys are secret).
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public var location: ConfigLocation
    /// Dotted key, e.g. `output.elasticsearch.hosts[1]`; "" for the whole file.
    public var key: String
    public var message: String

    public init(location: ConfigLocation, key: String, message: String) {
        self.location = location; self.key = key; self.message = message
    }

    public var description: String {
        key.isEmpty ? "\(location): error: \(message)" : "\(location): error: \(key): \(message)"
    }
}

/// Every finding of one load (a file is checked whole, not up to its first error).
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    public init(_ diagnostics: [ConfigDiagnostic]) { self.diagnostics = diagnostics }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A value that must never be printed: logs, errors, `print`, `dump` and string interpolation all
/// show `<redacted>`. Only `reveal()` gives the value, for the one place that sends it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    public func reveal() -> String { value }
    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
