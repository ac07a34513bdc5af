import DefendEvents

/// The compiled policy in the exact shape of the kernel's maps (`bpf/defend_abi.h`):
/// the kernel sensor copies these values into `struct defend_policy`, `policy_paths` and
/// `containers`, and the userspace compiled evaluator runs the same algorithm on them,
/// so both agree bit for bit.
///
/// Selector i of a section is bit i (declaration order). Evaluating one operation:
///   m  = opMask[op] & containerMask & pathMask & nameMask & interactiveMask & volumeMask
///   pathMask  = pathAnyMask[section] | (matching pathEntries: EXACT path, CHILD of the parent dir,
///               DESCENDANT of every ancestor dir)
///   nameMask  = nameAnyMask | NAME entry of the process name (process section only; file: all ones)
///   interactiveMask = interactiveMask[tty ? 1 : 0]      (process section only)
///   volumeMask = not on a volume: all ones; volume: volumeOkMask; file mount: fileMountOkMask (file only)
///   fired response r: (m & r.match) != 0 && (m & r.exclude) == 0; actions = union; selectors = m & union of r.match
public struct KernelTables: Sendable, Hashable {
    public enum Section: Int, Sendable, CaseIterable { case file = 0, process = 1 }
    public enum PathKind: UInt8, Sendable { case exact = 0, child = 1, descendant = 2, name = 3 }

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
