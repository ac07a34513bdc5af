import DefendEvents

/// The two sections of a policy. Same raw values as `enum defend_section` (bpf/defend_abi.h).
public typealias PolicySection = KernelTables.Section

extension KernelTables.Section {
    /// The key of the section in a policy document.
    public var key: String { self == .file ? "file" : "process" }
    /// Operations that belong to this section.
    public var operations: [PolicyOperation] {
        self == .file ? [.createExecutable, .modifyExecutable, .createFile, .modifyFile, .deleteFile]
                      : [.fork, .exec]
    }
}

extension PolicyOperation {
    /// The name used in policies (`operation: [createExecutable, fork]`).
    public var policyName: String {
        switch self {
        case .createExecutable: return "createExecutable"
        case .modifyExecutable: return "modifyExecutable"
        case .createFile: return "createFile"
        case .modifyFile: return "modifyFile"
        case .deleteFile: return "deleteFile"
        case .fork: return "fork"
        case .exec: return "exec"
        }
    }

    public init?(policyName: String) {
        guard let op = PolicyOperation.allCases.first(where: { $0.policyName == policyName }) else { return nil }
        self = op
    }

    public var section: PolicySection { rawValue <= PolicyOperation.deleteFile.rawValue ? .file : .process }

    /// Plain-file operations (a block on them everywhere can make a node unusable).
    public var isPlainFileOperation: Bool { self == .createFile || self == .modifyFile || self == .deleteFile }
}

extension ActionSet {
    /// Action names in a fixed order (log, alert, block), which is also sorted order.
    public var names: [String] {
        var out: [String] = []
        if contains(.alert) { out.append("alert") }
        if contains(.block) { out.append("block") }
        if contains(.log) { out.append("log") }
        return out
    }

    public init?(actionName: String) {
        switch actionName {
        case "log": self = .log
        case "alert": self = .alert
        case "block": self = .block
        default: return nil
        }
    }
}

/// A path condition value (`targetFilePath`, `processExecutable`) split into its matching kind.
public struct PathPattern: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// The whole path equals `base`.
        case exact
        /// `base/*`: direct children of `base` (not `base` itself).
        case children
        /// `base/**`: every descendant of `base` (not `base` itself).
        case descendants
    }
    public var kind: Kind
    /// The path (exact) or the directory without trailing slash ("" = the root directory).
    public var base: String

    public init(kind: Kind, base: String) { self.kind = kind; self.base = base }

    /// Parses a value already validated against `^(?:/[^/*]+)*(?:/\*|/\*\*)?$`.
    public init(validated value: String) {
        if value.hasSuffix("/**") {
            self.init(kind: .descendants, base: String(value.dropLast(3)))
        } else if value.hasSuffix("/*") {
            self.init(kind: .children, base: String(value.dropLast(2)))
        } else {
            self.init(kind: .exact, base: value)
        }
    }

    /// The policy text form.
    public var text: String {
        switch kind {
        case .exact: return base
        case .children: return base + "/*"
        case .descendants: return base + "/**"
        }
    }
}

/// A `kubernetesPodLabel` value: `key:value`, where the value may end in `*` (prefix) and an
/// empty value matches only an empty label value.
public struct PodLabelPattern: Sendable, Hashable {
    public var key: String
    /// The value, or its prefix when `isPrefix`.
    public var value: String
    public var isPrefix: Bool

    public init(key: String, value: String, isPrefix: Bool) {
        self.key = key; self.value = value; self.isPrefix = isPrefix
    }

    /// Parses `key:value` (split at the first `:` after the optional `prefix/`).
    public init?(text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        key = String(text[..<colon])
        var v = String(text[text.index(after: colon)...])
        isPrefix = v.hasSuffix("*")
        if isPrefix { v.removeLast() }
        value = v
    }

    public var text: String { key + ":" + value + (isPrefix ? "*" : "") }
}

/// Where in the policy text something was written (1-based; 0 = unknown).
public struct SourceLocation: Sendable, Hashable {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public static let unknown = SourceLocation(line: 0, column: 0)
}

/// One selector: a name and conditions that are ANDed (values of one list condition are ORed).
/// A nil condition is absent (does not restrict).
public struct PolicySelector: Sendable, Hashable {
    public var section: PolicySection
    public var name: String
    public var location: SourceLocation = .unknown

    public var operations: [PolicyOperation]?
    // file
    public var targetFilePath: [PathPattern]?
    public var ignoreVolumeMounts: Bool?
    public var ignoreVolumeFiles: Bool?
    // process
    public var processExecutable: [PathPattern]?
    public var processName: [String]?
    public var sessionLeaderInteractive: Bool?
    // both
    public var containerImageName: [String]?
    /// Stored as written; matching normalises Docker Hub references (see `ImageReference`).
    public var containerImageFullName: [String]?
    public var containerImageTag: [String]?
    public var kubernetesClusterId: [String]?
    public var kubernetesClusterName: [String]?
    public var kubernetesNamespace: [String]?
    /// Exact, or prefix when the value ends in `*`.
    public var kubernetesPodName: [String]?
    public var kubernetesPodLabel: [PodLabelPattern]?

    public init(section: PolicySection, name: String) { self.section = section; self.name = name }

    /// The path condition of the section (targetFilePath or processExecutable).
    public var pathCondition: [PathPattern]? { section == .file ? targetFilePath : processExecutable }

    /// True when a container or Kubernetes condition is present (such a selector never matches the host).
    public var hasContainerConditions: Bool {
        containerImageName != nil || containerImageFullName != nil || containerImageTag != nil
            || kubernetesClusterId != nil || kubernetesClusterName != nil || kubernetesNamespace != nil
            || kubernetesPodName != nil || kubernetesPodLabel != nil
    }
}

public struct PolicyResponse: Sendable, Hashable {
    public var section: PolicySection
    /// Selector names (all of the same section).
    public var match: [String]
    public var exclude: [String]
    public var actions: ActionSet
    public var location: SourceLocation = .unknown
    /// Positions of the `match` / `exclude` items (for diagnostics; empty when built in code).
    public var matchLocations: [SourceLocation] = []
    public var excludeLocations: [SourceLocation] = []

    public init(section: PolicySection, match: [String], exclude: [String] = [], actions: ActionSet) {
        self.section = section; self.match = match; self.exclude = exclude; self.actions = actions
    }
}

public struct PolicySectionRules: Sendable, Hashable {
    public var selectors: [PolicySelector]
    public var responses: [PolicyResponse]
    public init(selectors: [PolicySelector] = [], responses: [PolicyResponse] = []) {
        self.selectors = selectors; self.responses = responses
    }

    public func selectorIndex(named name: String) -> Int? { selectors.firstIndex { $0.name == name } }
}

/// A validated policy. Build one with `PolicyLoader`; the evaluators assume validation passed.
public struct Policy: Sendable, Hashable {
    public var file: PolicySectionRules?
    public var process: PolicySectionRules?

    public init(file: PolicySectionRules? = nil, process: PolicySectionRules? = nil) {
        self.file = file; self.process = process
    }

    public subscript(section: PolicySection) -> PolicySectionRules? {
        get { section == .file ? file : process }
        set { if section == .file { file = newValue } else { process = newValue } }
    }
}

/// Whether operations outside containers are evaluated.
public enum PolicyScope: String, Sendable, Hashable, CaseIterable {
    /// D4C behaviour: host operations yield nothing.
    case containers
    /// Host operations are evaluated too; container/Kubernetes conditions do not match them.
    case all
}
