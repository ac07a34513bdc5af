import Foundation
import Yams

/// Reads a YAML configuration file into `Target` through a `ConfigSchema`: every key must be known,
/// every value well typed; all findings are reported at once as `FILE:LINE:COL`.
public enum ConfigLoader {
    public static let maxFileBytes = 1 << 20

    /// What a load set (keys in file order), so callers can tell given keys from defaults.
    public struct Result {
        public var appliedKeys: [String] = []
        public var locations: [String: ConfigLocation] = [:]
    }

    public static func load<Target>(path: String, schema: ConfigSchema<Target>, into target: inout Target,
                                    environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigError) -> Result {
        let whole = ConfigLocation(file: path, line: 0, column: 0)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError([ConfigDiagnostic(location: whole, key: "", message: "cannot read the file")])
        }
        guard data.count <= maxFileBytes else {
            throw ConfigError([ConfigDiagnostic(location: whole, key: "",
                                                message: "larger than \(maxFileBytes) bytes")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError([ConfigDiagnostic(location: whole, key: "", message: "not UTF-8 text")])
        }
        let dir = (path as NSString).deletingLastPathComponent
        let base = dir.isEmpty ? FileManager.default.currentDirectoryPath : dir
        return try parse(text: text, file: path, baseDirectory: base, schema: schema, into: &target,
                         environment: environment)
    }

    public static func parse<Target>(text: String, file: String, baseDirectory: String,
                                     schema: ConfigSchema<Target>, into target: inout Target,
                                     environment: [String: String]) throws(ConfigError) -> Result {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError([yamlDiagnostic(error, file: file)])
        }
        var result = Result()
        guard let root else { return result }  // an empty file sets nothing
        var diagnostics: [ConfigDiagnostic] = []
        let tree = convert(root, file: file, diagnostics: &diagnostics)
        guard case .mapping = tree.kind else {
            throw ConfigError([ConfigDiagnostic(location: tree.location, key: "",
                                                message: "the file must be a mapping of keys, found \(tree.typeName)")])
        }
        walk(tree, section: "", schema: schema, target: &target, baseDirectory: baseDirectory,
             environment: environment, result: &result, diagnostics: &diagnostics)
        if !diagnostics.isEmpty { throw ConfigError(diagnostics) }
        return result
    }

    private static func walk<Target>(_ node: ConfigNode, section: String, schema: ConfigSchema<Target>,
                                     target: inout Target, baseDirectory: String, environment: [String: String],
                                     result: inout Result, diagnostics: inout [ConfigDiagnostic]) {
        guard case .mapping(let pairs) = node.kind else { return }
        for (name, keyLocation, value) in pairs {
            let path = section.isEmpty ? name : section + "." + name
            if let key = schema.keys[path] {
                if let earlier = result.locations[path] {
                    diagnostics.append(ConfigDiagnostic(location: keyLocation, key: path,
                                                        message: "given twice (first at \(earlier))"))
                    continue
                }
                let v = ConfigValue(node: value, key: path, isSecret: key.isSecret, baseDirectory: baseDirectory,
                                    environment: environment)
                do {
                    try key.apply(&target, v)
                    result.appliedKeys.append(path)
                    result.locations[path] = keyLocation
                } catch {
                    diagnostics.append(ConfigDiagnostic(location: error.location ?? value.location, key: path,
                                                        message: error.message))
                }
            } else if schema.isSection(path) {
                switch value.kind {
                case .mapping:
                    walk(value, section: path, schema: schema, target: &target, baseDirectory: baseDirectory,
                         environment: environment, result: &result, diagnostics: &diagnostics)
                case .null:
                    break
                default:
                    diagnostics.append(ConfigDiagnostic(location: value.location, key: path,
                                                        message: "expected a mapping, found \(value.typeName)"))
                }
            } else {
                let known = schema.children(of: section)
                diagnostics.append(ConfigDiagnostic(
                    location: keyLocation, key: path,
                    message: "unknown key" + (known.isEmpty ? "" : " (known here: \(known.joined(separator: ", ")))")))
            }
        }
    }

    private static func location(_ mark: Mark?, _ file: String) -> ConfigLocation {
        ConfigLocation(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0)
    }

    private static func convert(_ node: Node, file: String, diagnostics: inout [ConfigDiagnostic]) -> ConfigNode {
        let loc = location(node.mark, file)
        switch node {
        case .scalar(let s):
            if s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) {
                return ConfigNode(kind: .null, location: loc, yaml: node)
            }
            return ConfigNode(kind: .scalar(s.string), location: loc, yaml: node)
        case .sequence(let seq):
            return ConfigNode(kind: .sequence(seq.map { convert($0, file: file, diagnostics: &diagnostics) }),
                              location: loc, yaml: node)
        case .mapping(let map):
            var pairs: [(key: String, keyLocation: ConfigLocation, value: ConfigNode)] = []
            var seen: [String: ConfigLocation] = [:]
            for (k, v) in map {
                let kl = location(k.mark, file)
                guard case .scalar(let ks) = k else {
                    diagnostics.append(ConfigDiagnostic(location: kl, key: "", message: "a key must be a plain name"))
                    continue
                }
                if let first = seen[ks.string] {
                    diagnostics.append(ConfigDiagnostic(location: kl, key: ks.string,
                                                        message: "given twice (first at \(first))"))
                    continue
                }
                seen[ks.string] = kl
                pairs.append((ks.string, kl, convert(v, file: file, diagnostics: &diagnostics)))
            }
            return ConfigNode(kind: .mapping(pairs), location: loc, yaml: node)
        case .alias:
            diagnostics.append(ConfigDiagnostic(location: loc, key: "", message: "YAML aliases are not supported"))
            return ConfigNode(kind: .null, location: loc, yaml: node)
        }
    }

    /// Yams' own descriptions quote the document (which may hold secrets): only the problem and place.
    private static func yamlDiagnostic(_ error: Error, file: String) -> ConfigDiagnostic {
        let whole = ConfigLocation(file: file, line: 0, column: 0)
        guard let e = error as? YamlError else {
            return ConfigDiagnostic(location: whole, key: "", message: "not valid YAML")
        }
        switch e {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return ConfigDiagnostic(location: location(mark, file), key: "", message: "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return ConfigDiagnostic(location: location(context.mark, file), key: "",
                                    message: "keys given twice: \(duplicates.joined(separator: ", "))")
        case .reader(let problem, _, _, _):
            return ConfigDiagnostic(location: whole, key: "", message: "unreadable YAML: \(problem)")
        default:
            return ConfigDiagnostic(location: whole, key: "", message: "not valid YAML")
        }
    }
}
