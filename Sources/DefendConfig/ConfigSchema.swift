/// One configuration key and the field it sets: the only place a key maps to a field.
/// `apply` converts the value (`ConfigValue` does the typing) and stores it in `Target`.
public struct ConfigKey<Target> {
    /// Dotted path, e.g. `output.elasticsearch.hosts`.
    public let path: String
    /// Values of secret keys never appear in errors.
    public let isSecret: Bool
    public let help: String
    let apply: (inout Target, ConfigValue) throws(ConfigFieldError) -> Void

    public init(_ path: String, secret: Bool = false, help: String = "",
                apply: @escaping (inout Target, ConfigValue) throws(ConfigFieldError) -> Void) {
        self.path = path; self.isSecret = secret; self.help = help; self.apply = apply
    }

    // Typed shorthands for the common cases.

    public static func string(_ path: String, _ field: WritableKeyPath<Target, String>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.nonEmptyString() }
    }

    public static func string(_ path: String, _ field: WritableKeyPath<Target, String?>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.nonEmptyString() }
    }

    public static func path(_ path: String, _ field: WritableKeyPath<Target, String?>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.path() }
    }

    public static func path(_ path: String, _ field: WritableKeyPath<Target, String>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.path() }
    }

    public static func paths(_ path: String, _ field: WritableKeyPath<Target, [String]>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in
            t[keyPath: field] = try v.list { (e: ConfigValue) throws(ConfigFieldError) in try e.path() }
        }
    }

    public static func strings(_ path: String, _ field: WritableKeyPath<Target, [String]>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in
            t[keyPath: field] = try v.list { (e: ConfigValue) throws(ConfigFieldError) in try e.nonEmptyString() }
        }
    }

    public static func secret(_ path: String, _ field: WritableKeyPath<Target, Secret?>, help: String = "") -> Self {
        Self(path, secret: true, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.secret() }
    }

    public static func int(_ path: String, _ field: WritableKeyPath<Target, Int>, in range: ClosedRange<Int>,
                           help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.int(in: range) }
    }

    public static func int(_ path: String, _ field: WritableKeyPath<Target, Int?>, in range: ClosedRange<Int>,
                           help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.int(in: range) }
    }

    public static func bool(_ path: String, _ field: WritableKeyPath<Target, Bool>, help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.bool() }
    }

    /// Seconds.
    public static func duration(_ path: String, _ field: WritableKeyPath<Target, Double>, in range: ClosedRange<Double>,
                                help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.duration(in: range) }
    }

    public static func byteSize(_ path: String, _ field: WritableKeyPath<Target, Int64>, in range: ClosedRange<Int64>,
                                help: String = "") -> Self {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in t[keyPath: field] = try v.byteSize(in: range) }
    }

    public static func choice<E: RawRepresentable & CaseIterable>(_ path: String, _ field: WritableKeyPath<Target, E>,
                                                                  help: String = "") -> Self where E.RawValue == String {
        Self(path, help: help) { (t: inout Target, v: ConfigValue) throws(ConfigFieldError) in
            let s = try v.choice(E.allCases.map(\.rawValue))
            if let e = E(rawValue: s) { t[keyPath: field] = e }
        }
    }
}

/// A set of keys. Nested mappings and dotted keys (`output.elasticsearch.hosts: …`, as Beats allows)
/// both reach the same key.
public struct ConfigSchema<Target> {
    public private(set) var keys: [String: ConfigKey<Target>] = [:]
    /// Every proper prefix of a key: a mapping is expected there.
    private var sections: Set<String> = [""]

    public init(_ keys: [ConfigKey<Target>]) {
        for k in keys { add(k) }
    }

    public mutating func add(_ key: ConfigKey<Target>) {
        precondition(keys[key.path] == nil, "configuration key \(key.path) declared twice")
        keys[key.path] = key
        var prefix = ""
        for part in key.path.split(separator: ".").dropLast() {
            prefix = prefix.isEmpty ? String(part) : prefix + "." + part
            sections.insert(prefix)
        }
    }

    func isSection(_ path: String) -> Bool { sections.contains(path) }

    /// Keys and sections directly below `section` (for "known keys here" hints).
    func children(of section: String) -> [String] {
        let prefix = section.isEmpty ? "" : section + "."
        var names = Set<String>()
        for path in keys.keys.map({ $0 }) + sections.map({ $0 }) where path.hasPrefix(prefix) && path != section {
            if let first = path.dropFirst(prefix.count).split(separator: ".").first { names.insert(String(first)) }
        }
        return names.sorted()
    }
}
