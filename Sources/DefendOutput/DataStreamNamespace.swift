/// Elasticsearch's rules for the namespace part of a data stream name
/// (`<type>-<dataset>-<namespace>`): lowercase, at most 100 bytes, no `-`, none of
/// `\ / * ? " < > | , # :` or spaces, and not starting with `_` or `+` (index name rules).
public enum DataStreamNamespace {
    public static let maxBytes = 100

    /// nil if valid, else why not.
    public static func problem(_ namespace: String) -> String? {
        if namespace.isEmpty { return "the data stream namespace must not be empty" }
        if namespace.utf8.count > maxBytes { return "the data stream namespace is longer than \(maxBytes) bytes" }
        if namespace != namespace.lowercased() { return "the data stream namespace must be lowercase: '\(namespace)'" }
        let forbidden: Set<Character> = ["\\", "/", "*", "?", "\"", "<", ">", "|", ",", "#", ":", " ", "-"]
        if let c = namespace.first(where: { forbidden.contains($0) || $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) {
            return "the data stream namespace must not contain '\(c)': '\(namespace)'"
        }
        if namespace.hasPrefix("_") || namespace.hasPrefix("+") || namespace.hasPrefix(".") {
            return "the data stream namespace must not start with '\(namespace.prefix(1))': '\(namespace)'"
        }
        return nil
    }
}
