import Foundation
import Yams

/// Reads and validates policy files (YAML, D4C syntax).
public enum PolicyLoader {
    /// Larger inputs are refused before parsing (real policies are a few KiB).
    public static let maxInputBytes = 1 << 20

    /// Reads `path` and parses it. Throws `PolicyError` with every error found.
    public static func load(path: String) throws(PolicyError) -> LoadedPolicy {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .unreadable(file: path, reason: "is a directory, not a policy file")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot open the file (permission denied?)"
                                                                      : "no such file"
            throw .unreadable(file: path, reason: reason)
        }
        defer { try? handle.close() }
        let data: Data
        do {
            // Read one byte past the cap so an oversized file is detected without reading it all.
            data = try handle.read(upToCount: maxInputBytes + 1) ?? Data()
        } catch {
            throw .unreadable(file: path, reason: "cannot read the file (\(error))")
        }
        return try parse(bytes: Array(data), fileName: path)
    }

    /// Parses policy text given as raw bytes (checks size, binary content and UTF-8 first).
    public static func parse(bytes: [UInt8], fileName: String) throws(PolicyError) -> LoadedPolicy {
        if bytes.count > maxInputBytes {
            throw .unreadable(file: fileName, reason: "the file is larger than \(maxInputBytes) bytes; a policy is YAML text of a few KiB")
        }
        if let nul = bytes.firstIndex(of: 0) {
            throw .unreadable(file: fileName, reason: "the file is binary (NUL byte at offset \(nul)), not YAML text")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .unreadable(file: fileName, reason: "the file is not valid UTF-8 text")
        }
        return try parse(yaml: text, fileName: fileName)
    }

    /// Parses policy text. `fileName` is only used in diagnostics.
    public static func parse(yaml: String, fileName: String = "<policy>") throws(PolicyError) -> LoadedPolicy {
        if yaml.utf8.count > maxInputBytes {
            throw .unreadable(file: fileName, reason: "the policy is larger than \(maxInputBytes) bytes")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw .invalid(file: fileName, diagnostics: [yamlDiagnostic(error, fileName: fileName)])
        } catch {
            throw .invalid(file: fileName, diagnostics: [PolicyDiagnostic(
                severity: .error, file: fileName, line: 0, column: 0, path: "", message: "not YAML: \(error)")])
        }
        guard let root, !isNull(root) else {
            throw .unreadable(file: fileName, reason: "the policy is empty (expected `file:` and/or `process:` sections)")
        }
        var parser = PolicyParser(fileName: fileName)
        let policy = parser.parseDocument(root)
        // Report in document order (rules that span the document are checked last).
        let diagnostics = parser.diagnostics.enumerated().sorted { a, b in
            (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
        }.map(\.element)
        if let policy, !diagnostics.contains(where: { $0.severity == .error }) {
            return LoadedPolicy(policy: policy, warnings: diagnostics)
        }
        throw .invalid(file: fileName, diagnostics: diagnostics)
    }

    private static func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node, s.tag == Tag(.null) { return true }
        return false
    }

    private static func yamlDiagnostic(_ error: YamlError, fileName: String) -> PolicyDiagnostic {
        func diag(_ mark: Mark?, _ message: String) -> PolicyDiagnostic {
            PolicyDiagnostic(severity: .error, file: fileName, line: mark?.line ?? 0, column: mark?.column ?? 0,
                             path: "", message: "not valid YAML: " + message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let ctx = context.map { " (\($0.text))" } ?? ""
            return diag(mark, problem + ctx)
        case .reader(let problem, _, _, _): return diag(nil, problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            var d = diag(context.mark, "")
            d.message = "duplicate key \(duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")) in the mapping that starts here"
            return d
        default: return diag(nil, "\(error)")
        }
    }
}
