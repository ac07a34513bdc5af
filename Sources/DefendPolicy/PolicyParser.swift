import DefendEvents
import Yams

/// Walks the composed YAML tree (Yams nodes keep line/column marks) into a `Policy`, collecting
/// every error and warning with its position and document path. Validation rules: see
/// `ConditionValues` (per value) and `PolicyRules` (across selectors and responses).
struct PolicyParser {
    let fileName: String
    private(set) var diagnostics: [PolicyDiagnostic] = []
    /// Aliases can make a small document expand enormously; stop walking after this many nodes.
    private var nodeBudget = 100_000
    private var budgetReported = false
    /// Selectors that had errors: they are kept for name resolution but skipped by rules that
    /// would otherwise report follow-on errors about their missing conditions.
    var invalidSelectors: [PolicySection: Set<String>] = [:]

    init(fileName: String) { self.fileName = fileName }

    // MARK: diagnostics

    mutating func error(_ node: Node?, _ path: String, _ message: String) {
        report(.error, node?.mark, path, message)
    }

    mutating func warning(_ node: Node?, _ path: String, _ message: String) {
        report(.warning, node?.mark, path, message)
    }

    mutating func report(_ severity: PolicyDiagnostic.Severity, _ mark: Mark?, _ path: String, _ message: String) {
        add(severity, SourceLocation(line: mark?.line ?? 0, column: mark?.column ?? 0), path, message)
    }

    mutating func error(at location: SourceLocation, _ path: String, _ message: String) {
        add(.error, location, path, message)
    }

    mutating func warning(at location: SourceLocation, _ path: String, _ message: String) {
        add(.warning, location, path, message)
    }

    /// Diagnostics kept per file: a pathological document (thousands of aliased bad values) must
    /// not produce an unbounded report.
    static let maxDiagnostics = 200

    private mutating func add(_ severity: PolicyDiagnostic.Severity, _ at: SourceLocation, _ path: String, _ message: String) {
        if diagnostics.count > Self.maxDiagnostics { return }
        if diagnostics.count == Self.maxDiagnostics {
            diagnostics.append(PolicyDiagnostic(severity: .error, file: fileName, line: at.line, column: at.column,
                                                path: path, message: "too many problems; stopping after \(Self.maxDiagnostics)"))
            return
        }
        diagnostics.append(PolicyDiagnostic(severity: severity, file: fileName, line: at.line, column: at.column,
                                            path: path, message: message))
    }

    /// Counts a visited node; false once the budget is spent (reported once).
    mutating func spend(_ node: Node, _ path: String) -> Bool {
        nodeBudget -= 1
        if nodeBudget >= 0 { return true }
        if !budgetReported {
            budgetReported = true
            error(node, path, "the document is too complex (aliases expand to more than 100000 nodes)")
        }
        return false
    }

    // MARK: node helpers

    static func location(_ node: Node) -> SourceLocation {
        SourceLocation(line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    static func kind(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s): return s.tag == Tag(.null) ? "empty (null)" : "the scalar '\(s.string)'"
        case .alias: return "an alias"
        }
    }

    /// The key/value pairs of a mapping, reporting non-scalar and duplicate keys.
    mutating func entries(_ mapping: Node.Mapping, _ path: String) -> [(key: String, keyNode: Node, value: Node)] {
        var seen: Set<String> = []
        var out: [(key: String, keyNode: Node, value: Node)] = []
        for (k, v) in mapping {
            guard case .scalar(let s) = k else {
                error(k, path, "a key must be a plain name, not \(Self.kind(k))")
                continue
            }
            let childPath = path.isEmpty ? s.string : path + "." + s.string
            if !seen.insert(s.string).inserted {
                error(k, childPath, "duplicate key '\(s.string)'")
                continue
            }
            out.append((s.string, k, v))
        }
        return out
    }

    /// A list of scalar strings (each with its node), or nil after reporting why not.
    mutating func stringList(_ node: Node, _ path: String, what: String) -> [(String, Node, String)]? {
        guard case .sequence(let seq) = node else {
            error(node, path, "\(what) must be a list (e.g. [a, b]), found \(Self.kind(node))")
            return nil
        }
        if seq.isEmpty {
            error(node, path, "\(what) must list at least one value")
            return nil
        }
        var out: [(String, Node, String)] = []
        var ok = true
        for (i, item) in seq.enumerated() {
            let itemPath = "\(path)[\(i)]"
            guard spend(item, itemPath) else { return nil }
            guard case .scalar(let s) = item, s.tag != Tag(.null) else {
                error(item, itemPath, "expected a single value, found \(Self.kind(item))")
                ok = false
                continue
            }
            out.append((s.string, item, itemPath))
        }
        return ok ? out : nil
    }

    mutating func bool(_ node: Node, _ path: String, what: String) -> Bool? {
        if case .scalar = node, let b = node.bool { return b }
        error(node, path, "\(what) must be true or false, found \(Self.kind(node))")
        return nil
    }

    // MARK: document

    mutating func parseDocument(_ root: Node) -> Policy? {
        guard case .mapping(let top) = root else {
            error(root, "", "a policy is a mapping with `file:` and/or `process:` sections, found \(Self.kind(root))")
            return nil
        }
        let (body, prefix) = unwrap(top)
        var policy = Policy()
        var sawSection = false
        var sectionNodes: [PolicySection: Node] = [:]
        for (key, keyNode, value) in entries(body, prefix) {
            let path = prefix.isEmpty ? key : prefix + "." + key
            switch key {
            case "file", "process":
                sawSection = true
                let section: PolicySection = key == "file" ? .file : .process
                sectionNodes[section] = value
                policy[section] = parseSection(value, section: section, path: path)
            default:
                warning(keyNode, path, "unknown key '\(key)' is ignored (a policy has `file:` and `process:` sections)")
            }
        }
        if !sawSection {
            error(root, prefix, "the policy has neither a `file:` nor a `process:` section")
            return nil
        }
        PolicyRules.check(&policy, parser: &self, sectionNodes: sectionNodes, prefix: prefix)
        return policy
    }

    /// Accepts the Fleet/standalone wrappers: `policy: {...}` or `inputs: [{policy: {...}}]`.
    private func unwrap(_ top: Node.Mapping) -> (Node.Mapping, String) {
        func hasSection(_ m: Node.Mapping) -> Bool { m["file"] != nil || m["process"] != nil }
        if hasSection(top) { return (top, "") }
        if case .mapping(let inner)? = top["policy"], hasSection(inner) { return (inner, "policy") }
        if case .sequence(let inputs)? = top["inputs"] {
            for (i, input) in inputs.enumerated() {
                if case .mapping(let m) = input, case .mapping(let inner)? = m["policy"], hasSection(inner) {
                    return (inner, "inputs[\(i)].policy")
                }
            }
        }
        return (top, "")
    }

    mutating func parseSection(_ node: Node, section: PolicySection, path: String) -> PolicySectionRules? {
        guard case .mapping(let m) = node else {
            error(node, path, "the `\(section.key)` section must be a mapping with `selectors:` and `responses:`, found \(Self.kind(node))")
            return nil
        }
        var rules = PolicySectionRules()
        var sawSelectors = false, sawResponses = false
        // Checked first so it is reported even when the section's items exhaust the report.
        if case .sequence(let s)? = m["selectors"], case .sequence(let r)? = m["responses"],
           s.count + r.count > PolicyRules.maxRulesPerSection {
            error(node, path, "the `\(section.key)` section has \(s.count) selectors and \(r.count) responses; at most \(PolicyRules.maxRulesPerSection) selectors + responses are allowed per section")
        }
        for (key, keyNode, value) in entries(m, path) {
            let keyPath = path + "." + key
            switch key {
            case "selectors":
                sawSelectors = true
                guard case .sequence(let seq) = value, !seq.isEmpty else {
                    error(value, keyPath, "`selectors` must be a non-empty list of selectors, found \(Self.kind(value))")
                    continue
                }
                for (i, item) in seq.enumerated() where spend(item, "\(keyPath)[\(i)]") {
                    if let s = parseSelector(item, section: section, path: "\(keyPath)[\(i)]") {
                        rules.selectors.append(s)
                    }
                }
            case "responses":
                sawResponses = true
                guard case .sequence(let seq) = value, !seq.isEmpty else {
                    error(value, keyPath, "`responses` must be a non-empty list of responses, found \(Self.kind(value))")
                    continue
                }
                for (i, item) in seq.enumerated() where spend(item, "\(keyPath)[\(i)]") {
                    if let r = parseResponse(item, section: section, path: "\(keyPath)[\(i)]") {
                        rules.responses.append(r)
                    }
                }
            default:
                warning(keyNode, keyPath, "unknown key '\(key)' is ignored (a section has `selectors:` and `responses:`)")
            }
        }
        if !sawSelectors { error(node, path, "the `\(section.key)` section has no `selectors:` (at least one is required)") }
        if !sawResponses { error(node, path, "the `\(section.key)` section has no `responses:` (at least one is required)") }
        return rules
    }

    // MARK: selectors

    mutating func parseSelector(_ node: Node, section: PolicySection, path: String) -> PolicySelector? {
        guard case .mapping(let m) = node else {
            error(node, path, "a selector must be a mapping with `name:` and conditions, found \(Self.kind(node))")
            return nil
        }
        var sel = PolicySelector(section: section, name: "")
        sel.location = Self.location(node)
        var ok = true
        var conditionCount = 0
        var sawName = false
        for (key, keyNode, value) in entries(m, path) {
            let keyPath = path + "." + key
            if key == "name" {
                sawName = true
                if let name = parseName(value, keyPath) { sel.name = name } else { ok = false }
                continue
            }
            guard let condition = Condition(rawValue: key) else {
                warning(keyNode, keyPath, "unknown key '\(key)' is ignored (not a selector condition)")
                continue
            }
            guard condition.sections.contains(section) else {
                let other = section == .file ? "process" : "file"
                error(keyNode, keyPath, "`\(key)` is a \(other) condition; a \(section.key) selector cannot use it (file and process selectors never mix)")
                ok = false
                continue
            }
            conditionCount += 1
            if !parseCondition(condition, value, keyPath, into: &sel) { ok = false }
        }
        if !sawName {
            error(node, path, "the selector has no `name:`")
            ok = false
        }
        if conditionCount == 0 {
            error(node, path, "selector '\(sel.name)' has no condition; add at least one (e.g. `operation:`)")
            ok = false
        }
        if m["ignoreVolumeMounts"] != nil, let n = m["ignoreVolumeFiles"] {
            error(n, path + ".ignoreVolumeFiles", "`ignoreVolumeFiles` cannot be combined with `ignoreVolumeMounts` (which already ignores every volume)")
            ok = false
        }
        if m["containerImageName"] != nil, let n = m["containerImageFullName"] {
            error(n, path + ".containerImageFullName", "`containerImageFullName` cannot be combined with `containerImageName`")
            ok = false
        }
        // An invalid selector is kept (its errors are already reported) so responses naming it do
        // not produce follow-on "unknown selector" errors; the policy is rejected anyway.
        if !ok { invalidSelectors[section, default: []].insert(sel.name) }
        return sel.name.isEmpty ? nil : sel
    }

    mutating func parseName(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let s) = node, s.tag != Tag(.null) else {
            error(node, path, "the selector name must be a non-empty string, found \(Self.kind(node))")
            return nil
        }
        let name = s.string
        if name.isEmpty {
            error(node, path, "the selector name must not be empty")
            return nil
        }
        if name.count > 128 {
            error(node, path, "the selector name is \(name.count) characters long; at most 128 are allowed")
            return nil
        }
        if !ConditionValues.isConventionalSelectorName(name) {
            warning(node, path, "selector name '\(name)' should contain only letters, digits, '_' and '-' and start with a letter or digit")
        }
        return name
    }

    /// Parses one condition into `sel`; false when an error was reported.
    mutating func parseCondition(_ c: Condition, _ node: Node, _ path: String, into sel: inout PolicySelector) -> Bool {
        if c.isBool {
            guard let b = bool(node, path, what: "`\(c.rawValue)`") else { return false }
            switch c {
            case .ignoreVolumeMounts: sel.ignoreVolumeMounts = b
            case .ignoreVolumeFiles: sel.ignoreVolumeFiles = b
            default: sel.sessionLeaderInteractive = b
            }
            return true
        }
        guard let items = stringList(node, path, what: "`\(c.rawValue)`") else { return false }
        var ok = true
        var values: [String] = []
        for (value, itemNode, itemPath) in items {
            if let problem = ConditionValues.problem(c, value, section: sel.section) {
                error(itemNode, itemPath, problem)
                ok = false
            } else {
                values.append(value)
            }
        }
        guard ok else { return false }
        switch c {
        case .operation: sel.operations = values.compactMap(PolicyOperation.init(policyName:))
        case .targetFilePath: sel.targetFilePath = values.map(PathPattern.init(validated:))
        case .processExecutable: sel.processExecutable = values.map(PathPattern.init(validated:))
        case .processName: sel.processName = values
        case .containerImageName: sel.containerImageName = values
        case .containerImageFullName: sel.containerImageFullName = values
        case .containerImageTag: sel.containerImageTag = values
        case .kubernetesClusterId: sel.kubernetesClusterId = values
        case .kubernetesClusterName: sel.kubernetesClusterName = values
        case .kubernetesNamespace: sel.kubernetesNamespace = values
        case .kubernetesPodName: sel.kubernetesPodName = values
        case .kubernetesPodLabel: sel.kubernetesPodLabel = values.compactMap(PodLabelPattern.init(text:))
        case .ignoreVolumeMounts, .ignoreVolumeFiles, .sessionLeaderInteractive: break
        }
        return true
    }

    // MARK: responses

    mutating func parseResponse(_ node: Node, section: PolicySection, path: String) -> PolicyResponse? {
        guard case .mapping(let m) = node else {
            error(node, path, "a response must be a mapping with `match:` and `actions:`, found \(Self.kind(node))")
            return nil
        }
        var match: [String]?, exclude: [String] = [], actions: ActionSet?
        var ok = true
        for (key, keyNode, value) in entries(m, path) {
            let keyPath = path + "." + key
            switch key {
            case "match":
                match = stringList(value, keyPath, what: "`match`")?.map(\.0)
                if match == nil { ok = false }
            case "exclude":
                if case .sequence(let s) = value, s.isEmpty { continue } // `exclude: []` means none
                if let list = stringList(value, keyPath, what: "`exclude`") { exclude = list.map(\.0) } else { ok = false }
            case "actions":
                guard let items = stringList(value, keyPath, what: "`actions`") else { ok = false; continue }
                var set: ActionSet = []
                for (name, itemNode, itemPath) in items {
                    if let a = ActionSet(actionName: name) {
                        set.insert(a)
                    } else {
                        error(itemNode, itemPath, "unknown action '\(name)' (expected log, alert or block)")
                        ok = false
                    }
                }
                actions = set
                if set.contains(.block) && !set.contains(.alert) {
                    error(value, keyPath, "`block` requires `alert` in the same response (a blocked operation is always alerted)")
                    ok = false
                }
            default:
                warning(keyNode, keyPath, "unknown key '\(key)' is ignored (a response has `match:`, `exclude:` and `actions:`)")
            }
        }
        if m["match"] == nil { error(node, path, "the response has no `match:` (at least one selector name)"); ok = false }
        if m["actions"] == nil { error(node, path, "the response has no `actions:` (log, alert and/or block)"); ok = false }
        // A response with bad actions is kept so its selector names are still checked; the policy
        // is rejected anyway because the error was reported.
        _ = ok
        guard let match else { return nil }
        var r = PolicyResponse(section: section, match: match, exclude: exclude, actions: actions ?? [])
        r.location = Self.location(node)
        r.matchLocations = Self.itemLocations(m["match"])
        r.excludeLocations = Self.itemLocations(m["exclude"])
        return r
    }

    static func itemLocations(_ node: Node?) -> [SourceLocation] {
        guard case .sequence(let s)? = node else { return [] }
        return s.map(location)
    }
}

/// Selector conditions (keys of a selector other than `name`).
enum Condition: String, CaseIterable {
    case operation, targetFilePath, ignoreVolumeMounts, ignoreVolumeFiles
    case processExecutable, processName, sessionLeaderInteractive
    case containerImageName, containerImageFullName, containerImageTag
    case kubernetesClusterId, kubernetesClusterName, kubernetesNamespace, kubernetesPodName, kubernetesPodLabel

    var sections: [PolicySection] {
        switch self {
        case .targetFilePath, .ignoreVolumeMounts, .ignoreVolumeFiles: return [.file]
        case .processExecutable, .processName, .sessionLeaderInteractive: return [.process]
        default: return [.file, .process]
        }
    }

    var isBool: Bool { self == .ignoreVolumeMounts || self == .ignoreVolumeFiles || self == .sessionLeaderInteractive }
}
