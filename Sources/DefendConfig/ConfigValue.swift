import Yams

/// A YAML node with where it was written.
public struct ConfigNode {
    public enum Kind {
        case null
        case scalar(String)
        case sequence([ConfigNode])
        /// Keys in file order, each with its own location (for unknown-key errors).
        case mapping([(key: String, keyLocation: ConfigLocation, value: ConfigNode)])
    }

    public var kind: Kind
    public var location: ConfigLocation
    /// The node as parsed (for values that are YAML documents themselves, e.g. an inline policy).
    public var yaml: Node

    var typeName: String {
        switch kind {
        case .null: return "nothing"
        case .scalar: return "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

/// Why one value was refused; the loader adds file, line, column and key.
public struct ConfigFieldError: Error, Sendable {
    public var message: String
    /// Overrides the value's own location (e.g. the n-th element of a list).
    public var location: ConfigLocation?
    public init(_ message: String, at location: ConfigLocation? = nil) {
        self.message = message; self.location = location
    }
}

/// The value of one key, handed to the key's setter. Conversions substitute `${VAR}` and
/// `${VAR:default}` from the environment in scalars (never in keys, and after YAML parsing, so a
/// variable's value cannot change the file's structure). Errors about a secret key never quote it.
public struct ConfigValue {
    public let node: ConfigNode
    public let key: String
    public let isSecret: Bool
    /// Directory of the configuration file: relative paths are resolved against it.
    public let baseDirectory: String
    let environment: [String: String]

    public var location: ConfigLocation { node.location }
    public var isNull: Bool { if case .null = node.kind { return true } else { return false } }

    private func shown(_ raw: String) -> String { isSecret ? "(value hidden)" : "'\(raw)'" }

    /// The scalar as text, with environment variables substituted.
    public func string() throws(ConfigFieldError) -> String {
        guard case .scalar(let raw) = node.kind else {
            throw ConfigFieldError("expected a scalar, found \(node.typeName)")
        }
        return try substitute(raw)
    }

    public func nonEmptyString() throws(ConfigFieldError) -> String {
        let s = try string()
        guard !s.isEmpty else { throw ConfigFieldError("must not be empty") }
        return s
    }

    public func secret() throws(ConfigFieldError) -> Secret { Secret(try nonEmptyString()) }

    public func int(in range: ClosedRange<Int>) throws(ConfigFieldError) -> Int {
        let s = try string()
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")) else {
            throw ConfigFieldError("expected an integer, found \(shown(s))")
        }
        guard range.contains(v) else {
            throw ConfigFieldError("must be between \(range.lowerBound) and \(range.upperBound), found \(v)")
        }
        return v
    }

    public func bool() throws(ConfigFieldError) -> Bool {
        let s = try string()
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigFieldError("expected true or false, found \(shown(s))")
        }
    }

    /// `500ms`, `1s`, `2m`, `1h`, or a number of seconds. Returns seconds.
    public func duration(in range: ClosedRange<Double>) throws(ConfigFieldError) -> Double {
        let s = try string().trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var value: Double?
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            if let n = Double(s.dropLast(suffix.count)) { value = n * factor; break }
        }
        if value == nil { value = Double(s) }
        guard let v = value, v.isFinite else {
            throw ConfigFieldError("expected a duration such as 500ms, 5s or 1m, found \(shown(s))")
        }
        guard range.contains(v) else {
            throw ConfigFieldError("must be between \(range.lowerBound)s and \(range.upperBound)s, found \(v)s")
        }
        return v
    }

    /// `1GiB`, `512MiB`, `100MB`, `64KiB`, or a number of bytes.
    public func byteSize(in range: ClosedRange<Int64>) throws(ConfigFieldError) -> Int64 {
        let s = try string().trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
                                        ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
                                        ("TB", 1_000_000_000_000), ("B", 1)]
        var bytes: Int64?
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            let number = s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            if let n = Double(number), n >= 0, n * Double(factor) < 9e18 { bytes = Int64(n * Double(factor)) }
            break
        }
        if bytes == nil, let n = Int64(s) { bytes = n }
        guard let b = bytes else {
            throw ConfigFieldError("expected a size such as 1GiB, 512MiB or 100MB, found \(shown(s))")
        }
        guard range.contains(b) else {
            throw ConfigFieldError("must be between \(range.lowerBound) and \(range.upperBound) bytes, found \(b)")
        }
        return b
    }

    /// A path; a relative one is taken relative to the configuration file's directory.
    public func path() throws(ConfigFieldError) -> String {
        let p = try nonEmptyString()
        return p.hasPrefix("/") || baseDirectory.isEmpty ? p : baseDirectory + "/" + p
    }

    /// One of `allowed`.
    public func choice(_ allowed: [String]) throws(ConfigFieldError) -> String {
        let s = try string()
        guard allowed.contains(s) else {
            throw ConfigFieldError("must be one of \(allowed.joined(separator: ", ")), found \(shown(s))")
        }
        return s
    }

    /// A list (a single scalar is taken as a list of one), each element converted by `element`.
    public func list<T>(_ element: (ConfigValue) throws(ConfigFieldError) -> T) throws(ConfigFieldError) -> [T] {
        let items: [ConfigNode]
        switch node.kind {
        case .sequence(let nodes): items = nodes
        case .scalar: items = [node]
        case .null: items = []
        case .mapping: throw ConfigFieldError("expected a list, found a mapping")
        }
        var out: [T] = []
        for (i, item) in items.enumerated() {
            let v = ConfigValue(node: item, key: "\(key)[\(i)]", isSecret: isSecret, baseDirectory: baseDirectory,
                                environment: environment)
            do { out.append(try element(v)) } catch {
                throw ConfigFieldError("[\(i)]: \(error.message)", at: error.location ?? item.location)
            }
        }
        return out
    }

    /// The node's YAML text (for values that are documents themselves); no substitution.
    public func yamlText() throws(ConfigFieldError) -> String {
        do { return try Yams.serialize(node: node.yaml) } catch {
            throw ConfigFieldError("cannot re-serialize this value")
        }
    }

    /// `${NAME}` and `${NAME:default}`; `$${` is a literal `${`.
    func substitute(_ raw: String) throws(ConfigFieldError) -> String {
        guard raw.contains("${") else { return raw }
        var out = ""
        var rest = Substring(raw)
        while let start = rest.range(of: "${") {
            if start.lowerBound > rest.startIndex, rest[rest.index(before: start.lowerBound)] == "$" {
                out += rest[..<rest.index(before: start.lowerBound)] + "${"
                rest = rest[start.upperBound...]
                continue
            }
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw ConfigFieldError("unterminated ${ in value")
            }
            let body = rest[start.upperBound..<end]
            let name: Substring
            let fallback: Substring?
            if let colon = body.firstIndex(of: ":") {
                name = body[..<colon]; fallback = body[body.index(after: colon)...]
            } else {
                name = body; fallback = nil
            }
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }) else {
                throw ConfigFieldError("invalid environment variable name '\(name)' in ${...}")
            }
            if let v = environment[String(name)] {
                out += v
            } else if let fallback {
                out += fallback
            } else {
                throw ConfigFieldError("environment variable \(name) is not set")
            }
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }
}
