/// One finding about a policy file: an error makes the policy invalid, a warning does not.
public struct PolicyDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public var severity: Severity
    public var file: String
    /// 1-based; 0 when the finding is about the whole file (unreadable, empty, too large).
    public var line: Int
    public var column: Int
    /// Where in the document, e.g. `file.selectors[2].targetFilePath[0]`; "" for the whole document.
    public var path: String
    public var message: String

    public init(severity: Severity, file: String, line: Int, column: Int, path: String, message: String) {
        self.severity = severity; self.file = file; self.line = line; self.column = column
        self.path = path; self.message = message
    }

    /// `FILE:LINE:COL: error: PATH: MESSAGE` (compiler style; position and path left out when unknown).
    public var description: String {
        var s = file
        if line > 0 { s += ":\(line):\(column)" }
        s += ": \(severity.rawValue): "
        if !path.isEmpty { s += path + ": " }
        return s + message
    }
}

/// Why a policy could not be loaded. Every error found is reported, not just the first.
public enum PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file could not be read (missing, unreadable, too large, not text).
    case unreadable(file: String, reason: String)
    /// The text was read but is not a valid policy; `diagnostics` holds every error and warning.
    case invalid(file: String, diagnostics: [PolicyDiagnostic])

    public var file: String {
        switch self {
        case .unreadable(let file, _), .invalid(let file, _): return file
        }
    }

    /// All findings (for `.unreadable`, one error without position).
    public var diagnostics: [PolicyDiagnostic] {
        switch self {
        case .unreadable(let file, let reason):
            return [PolicyDiagnostic(severity: .error, file: file, line: 0, column: 0, path: "", message: reason)]
        case .invalid(_, let diagnostics): return diagnostics
        }
    }

    public var errors: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .warning } }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A successfully loaded policy and the warnings found while loading it.
public struct LoadedPolicy: Sendable, Hashable {
    public var policy: Policy
    public var warnings: [PolicyDiagnostic]
    public init(policy: Policy, warnings: [PolicyDiagnostic]) { self.policy = policy; self.warnings = warnings }
}
