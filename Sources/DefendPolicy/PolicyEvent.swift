import DefendEvents

/// Where a file operation's target lives (drives `ignoreVolumeMounts` / `ignoreVolumeFiles`).
public enum VolumeState: Sendable, Hashable {
    /// On no volume: the container's root filesystem, or a mount that is no volume (the runtime's
    /// `/dev`, `/dev/shm`, `/proc`, a tmpfs, a mount not described yet); also assumed when unknown.
    case none
    /// On a volume mount: a mount whose root the agent classified as a volume from the container's
    /// OCI spec and pod spec (emptyDir, hostPath, PVC, a plain bind mount). The kernel knows it by the
    /// mount root's identity (`volume_mounts`), so no rename or other name changes it.
    case volumeMount
    /// On a file mount: a mounted file (a bind of a regular file, `/etc/hosts`...) or a configMap,
    /// secret, projected or downwardAPI volume.
    case fileMount

    public init(inVolumeMount: Bool, isFileMount: Bool) {
        self = isFileMount ? .fileMount : (inVolumeMount ? .volumeMount : .none)
    }
}

/// One operation as the policy sees it. Unknown values are nil: a condition on an unknown value
/// does not match. Paths are expected canonical (the kernel's are); normalise others first with
/// `PathNormalizer.normalize`.
public struct PolicyEvent: Sendable, Hashable {
    public var operation: PolicyOperation
    /// File operations: the target path. Process operations: the executable path.
    public var path: String?
    /// Kernel task name (comm); only the first 15 bytes are compared.
    public var processName: String?
    /// The session has a controlling tty (process operations).
    public var interactive: Bool?
    public var volume: VolumeState
    /// nil: the operation happened on the host, outside any container.
    public var container: ContainerContext?
    /// How completely the kernel resolved `path` (see `PathState`).
    public var pathState: PathState

    public init(operation: PolicyOperation, path: String? = nil, processName: String? = nil,
                interactive: Bool? = nil, volume: VolumeState = .none, container: ContainerContext? = nil,
                pathState: PathState = .complete) {
        self.operation = operation; self.path = path; self.processName = processName
        self.interactive = interactive; self.volume = volume; self.container = container
        self.pathState = pathState
    }

    public var section: PolicySection { operation.section }
}

/// Path limits of the kernel (bpf/defend_abi.h); see `PathState` for how paths are resolved.
public enum PathLimits {
    /// DEFEND_PATH_MAX: path bytes the kernel carries in a record, including the NUL.
    public static let pathMax = 4096
    /// DEFEND_PATTERN_MAX: bytes of a policy path string, including the NUL.
    public static let patternMax = 512
    /// DEFEND_WALK_STEPS: components plus mount crossings the kernel walks up from a name to the
    /// namespace root (PATH_MAX / 2 + 32); a deeper name is unresolved (fail closed).
    public static let walkSteps = pathMax / 2 + 32
    /// What the evaluators append to a `.truncated` path: two components that no policy string can
    /// name ('*' is only a whole last component there), so the prefix is judged as an ancestor only.
    static let continuation = "/" + String(repeating: "*", count: 256) + "/*"
}

/// What a policy decided about one operation.
public struct PolicyVerdict: Sendable, Hashable {
    /// Union of the actions of every fired response.
    public var actions: ActionSet
    /// Selectors (bits of the operation's section) that matched and are named in the `match` of a
    /// fired response: `cloud_defend.matched_selectors`.
    public var selectors: UInt64
    /// Every selector that matched, fired or not (for explanations).
    public var matched: UInt64

    public init(actions: ActionSet = [], selectors: UInt64 = 0, matched: UInt64 = 0) {
        self.actions = actions; self.selectors = selectors; self.matched = matched
    }

    public static let none = PolicyVerdict()
}

/// Lexical path normalisation for paths that did not come from the kernel (`defend policy test`
/// input): collapses `//`, drops `.`, resolves `..` without going above `/`, drops a trailing `/`.
/// Symlinks are not resolved (policies match the path the kernel reports).
public enum PathNormalizer {
    /// nil when `path` is not absolute.
    public static func normalize(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return nil }
        var parts: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }
}
