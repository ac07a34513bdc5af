import DefendEvents

/// The compiled policy in the exact shape of the kernel's maps (`bpf/defend_abi.h`):
/// the kernel sensor copies these values into `struct defend_policy`, `policy_paths` and
/// `containers`, and the userspace compiled evaluator (`CompiledPolicy.evaluate`) runs the same
/// algorithm on them, so both agree bit for bit. Built by `CompiledPolicy(policy, scope:)`.
///
/// Selector i of a section is bit i (declaration order). A section has at most 63 selectors
/// (64 selectors + responses, and at least one response). Evaluating one operation `op`:
///   section = file for createExecutable..deleteFile, process for fork/exec
///   m  = opMask[op] & containerMask & pathMask & nameMask & interactiveMask & volumeMask
///   opMask[op]: selectors of op's section that list op, or have no `operation` (never bits of
///               the other section, so m only ever holds bits of op's section)
///   containerMask: from the `containers` map entry of the task's cgroup (computed in userspace
///               by `CompiledPolicy.containerMasks(for:)`); no entry = host task: hostMask[section]
///               (0 unless the scope covers the host); entry not yet described: unknownContainerMask
///   pathMask  = pathAnyMask[section] | OR of the masks of these `policy_paths` hits
///               (path = file target, or the executable for process operations):
///               - EXACT: the whole path;
///               - DESCENDANT: every ancestor directory: the bytes before each '/' that is followed
///                 by at least one more byte ("" for the root, then "/a", "/a/b" for "/a/b/c");
///               - CHILD: the last of those ancestors (the parent directory).
///               So neither `/dir/*` nor `/dir/**` matches "/dir" itself, and "/" matches nothing.
///               Keys: FNV-1a 64 over the bytes (computed incrementally while walking: the hash of
///               a prefix is the running hash before its '/' is mixed in), byte length, section,
///               kind; on a hit the stored string is compared so collisions never match.
///   nameMask  = nameAnyMask | NAME entry of the comm's first 15 bytes (process section only;
///               file section: all ones)
///   interactiveMask = interactiveMask[tty ? 1 : 0] (process section only; tty unknown:
///               interactiveMask[0] & interactiveMask[1])
///   volumeMask = not on a volume: all ones; volume mount: volumeOkMask; file mount:
///               fileMountOkMask (file section only)
///   fired response r (of the section): (m & r.match) != 0 && (m & r.exclude) == 0
///   actions = union of fired r.actions; selectors = m & (union of fired r.match)
///   (`cloud_defend.matched_selectors` = names of the selector bits, ascending = declaration order)
public struct KernelTables: Sendable, Hashable {
    public enum Section: Int, Sendable, CaseIterable { case file = 0, process = 1 }
    /// `ancestor`: a directory at or above a path pattern's base (every prefix of the base that ends
    /// at a component, and the base of `dir/*` and `dir/**`): renaming or removing it moves the
    /// protected names (judged only for directory renames and rmdir; in the process section, for
    /// renames that move an exec-blocked tree).
    public enum PathKind: UInt8, Sendable { case exact = 0, child = 1, descendant = 2, name = 3, ancestor = 4 }

    public struct Response: Sendable, Hashable {
        public var match: UInt64
        public var exclude: UInt64
        public var actions: ActionSet
        public init(match: UInt64, exclude: UInt64, actions: ActionSet) {
            self.match = match; self.exclude = exclude; self.actions = actions
        }
    }

    /// One `policy_paths` entry. `string` is a full path (exact), a directory without trailing
    /// slash (child/descendant; "" = root), or a process name.
    public struct PathEntry: Sendable, Hashable {
        public var section: Section
        public var kind: PathKind
        public var string: String
        public var mask: UInt64
        public init(section: Section, kind: PathKind, string: String, mask: UInt64) {
            self.section = section; self.kind = kind; self.string = string; self.mask = mask
        }
        public var hash: UInt64 { FNV1a.hash(string.utf8) }
    }

    /// Indexed by `PolicyOperation.rawValue` (7 entries).
    public var opMask: [UInt64] = Array(repeating: 0, count: PolicyOperation.allCases.count)
    /// Indexed by `Section.rawValue`.
    public var pathAnyMask: [UInt64] = [0, 0]
    public var nameAnyMask: UInt64 = 0
    /// [0]: session without a controlling tty, [1]: interactive session.
    public var interactiveMask: [UInt64] = [0, 0]
    public var volumeOkMask: UInt64 = 0
    public var fileMountOkMask: UInt64 = 0
    /// Container-condition mask for tasks outside containers; zero unless the scope covers the host.
    public var hostMask: [UInt64] = [0, 0]
    /// Container-condition mask for containers not yet described (no image/Kubernetes metadata).
    public var unknownContainerMask: [UInt64] = [0, 0]
    /// Indexed by `Section.rawValue`.
    public var responses: [[Response]] = [[], []]
    public var pathEntries: [PathEntry] = []
    /// Send fork/exec/exit/setsid records even when no response asks (the process tree needs them).
    public var processTelemetry: Bool = true

    /// Some process response blocks and matches a selector that names executables
    /// (`processExecutable`): only then does the kernel judge a read of a file as an exec of it.
    public var blocksExecutablesByPath: Bool {
        let section = Section.process.rawValue
        guard responses.count > section, pathAnyMask.count > section else { return false }
        let namingExecutables = ~pathAnyMask[section]
        return responses[section].contains { $0.actions.contains(.block) && $0.match & namingExecutables != 0 }
    }

    public init() {}
}

/// FNV-1a 64, the hash of `policy_paths` keys (the BPF side computes it incrementally while
/// walking a path, so directory prefixes are looked up without copying).
public enum FNV1a {
    public static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x100_0000_01b3

    @inlinable
    public static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h = offset
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }
}
