import DefendEvents
import Yams

/// Reads and validates policy files (YAML, D4C syntax).
public enum PolicyLoader {
    /// Larger inputs are refused before parsing (real policies are a few KiB).
    public static let maxInputBytes = 1 << 20

    /// Reads `path` and parses it. Throws `PolicyError` with every error found. Only a regular file
    /// is read: a FIFO or device in its place is refused at once instead of blocking the reader.
    public static func load(path: String) throws(PolicyError) -> LoadedPolicy {
        let bytes: [UInt8]
        do {
            bytes = try RegularFile.read(path: path, maxBytes: maxInputBytes)
        } catch {
            throw .unreadable(file: path, reason: reason(error))
        }
        return try parse(bytes: bytes, fileName: path)
    }

    static func reason(_ error: RegularFile.ReadError) -> String {
        switch error {
        case .notRegular("a directory"): return "is a directory, not a policy file"
        case .notRegular(let kind): return "is \(kind), not a regular file; a policy must be a regular file"
        case .tooLarge: return "the file is larger than \(maxInputBytes) bytes; a policy is YAML text of a few KiB"
        default: return error.description
        }
    }

    /// Parses policy text given as raw bytes (checks size, text encoding and binary content first).
    public static func parse(bytes: [UInt8], fileName: String) throws(PolicyError) -> LoadedPolicy {
        if bytes.count > maxInputBytes {
            throw .unreadable(file: fileName, reason: "the file is larger than \(maxInputBytes) bytes; a policy is YAML text of a few KiB")
        }
        if let encoding = utf16Encoding(bytes) {
            throw .unreadable(file: fileName, reason: "the file is UTF-16 (\(encoding)) text; a policy must be UTF-8: convert it (e.g. `iconv -f UTF-16 -t UTF-8`)")
        }
        if let nul = bytes.firstIndex(of: 0) {
            throw .unreadable(file: fileName, reason: "the file is binary (NUL byte at offset \(nul)), not YAML text")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let offset = firstInvalidUTF8(bytes)
            throw .unreadable(file: fileName, reason: "the file is not valid UTF-8 text (bad byte at offset \(offset))")
        }
        return try parse(yaml: text, fileName: fileName)
    }

    /// "little-endian"/"big-endian" when the bytes look like UTF-16: a byte-order mark, or the
    /// zero high bytes of ASCII text in every other position.
    static func utf16Encoding(_ b: [UInt8]) -> String? {
        if b.count >= 2 && b[0] == 0xFF && b[1] == 0xFE { return "little-endian" }
        if b.count >= 2 && b[0] == 0xFE && b[1] == 0xFF { return "big-endian" }
        let pairs = min(b.count / 2, 64)
        guard pairs >= 2 else { return nil }
        let sample = (0..<pairs).map { (b[2 * $0], b[2 * $0 + 1]) }
        if sample.allSatisfy({ $0.0 != 0 && $0.1 == 0 }) { return "little-endian" }
        if sample.allSatisfy({ $0.0 == 0 && $0.1 != 0 }) { return "big-endian" }
        return nil
    }

    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput, .error: return offset
            }
        }
    }

    /// Parses policy text. `fileName` is only used in diagnostics.
    public static func parse(yaml: String, fileName: String = "<policy>") throws(PolicyError) -> LoadedPolicy {
        if yaml.utf8.count > maxInputBytes {
            throw .unreadable(file: fileName, reason: "the policy is larger than \(maxInputBytes) bytes")
        }
        let problems = YAMLPrescan.check(yaml)
        if !problems.isEmpty {
            throw .invalid(file: fileName, diagnostics: problems.map {
                PolicyDiagnostic(severity: .error, file: fileName, line: $0.line, column: $0.column, path: "", message: $0.message)
            })
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
