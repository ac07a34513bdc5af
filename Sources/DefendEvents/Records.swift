/// Typed records decoded from the kernel sensor's ring buffer. Value types only: the sensor
/// produces them, the process table and the ECS writer consume them.
/// The layout they are decoded from is `bpf/defend_abi.h`; raw values here mirror its enums.

/// A policy operation (the order and raw values are those of `enum defend_op`).
public enum PolicyOperation: UInt8, Sendable, CaseIterable, Hashable {
    case createExecutable = 0
    case modifyExecutable = 1
    case createFile = 2
    case modifyFile = 3
    case deleteFile = 4
    case fork = 5
    case exec = 6
}

/// Actions decided for an operation (bits of `enum defend_action`).
public struct ActionSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let log = ActionSet(rawValue: 1)
    public static let alert = ActionSet(rawValue: 2)
    public static let block = ActionSet(rawValue: 4)
}

/// The kernel hook a record came from (`enum defend_hook`), named as `cloud_defend.hook_point`.
public enum HookPoint: UInt32, Sendable, Hashable {
    case none = 0
    case sched_process_fork = 1
    case sched_process_exec = 2
    case sched_process_exit = 3
    case sys_exit_setsid = 4
    case path_chmod = 5
    case path_mknod = 6
    case file_open = 7
    case path_truncate = 8
    case path_rename = 9
    case path_link = 10
    case path_unlink = 11
    case bprm_check_security = 12
    case task_alloc = 13
    case cgroup_mkdir = 14
    case cgroup_rmdir = 15
    case path_mkdir = 16
    case path_rmdir = 17
    case path_symlink = 18
    case inode_setxattr = 19
    case inode_set_acl = 20
    case mmap_file = 21

    /// The `cloud_defend.hook_point` value (D4C names; tracepoints where D4C used a kprobe).
    public var ecsName: String {
        switch self {
        case .none: return "none"
        case .sched_process_fork: return "tracepoint__sched_process_fork"
        case .sched_process_exec: return "tracepoint__sched_process_exec"
        case .sched_process_exit: return "tracepoint__sched_process_exit"
        case .sys_exit_setsid: return "tracepoint__syscalls_sys_exit_setsid"
        case .path_chmod: return "lsm__path_chmod"
        case .path_mknod: return "lsm__path_mknod"
        case .file_open: return "lsm__file_open"
        case .path_truncate: return "lsm__path_truncate"
        case .path_rename: return "lsm__path_rename"
        case .path_link: return "lsm__path_link"
        case .path_unlink: return "lsm__path_unlink"
        case .bprm_check_security: return "lsm__bprm_check_security"
        case .task_alloc: return "lsm__task_alloc"
        case .cgroup_mkdir: return "tracepoint__cgroup_mkdir"
        case .cgroup_rmdir: return "tracepoint__cgroup_rmdir"
        case .path_mkdir: return "lsm__path_mkdir"
        case .path_rmdir: return "lsm__path_rmdir"
        case .path_symlink: return "lsm__path_symlink"
        case .inode_setxattr: return "lsm__inode_setxattr"
        case .inode_set_acl: return "lsm__inode_set_acl"
        case .mmap_file: return "lsm__mmap_file"
        }
    }
}

/// What the kernel decided about one record.
public struct Decision: Sendable, Hashable {
    public var operation: PolicyOperation?
    public var actions: ActionSet
    /// Matched selectors as bits of the section (bit i = i-th selector in declaration order).
    public var selectors: UInt64
    public var denied: Bool
    public var generation: UInt32

    public init(operation: PolicyOperation? = nil, actions: ActionSet = [], selectors: UInt64 = 0,
                denied: Bool = false, generation: UInt32 = 0) {
        self.operation = operation
        self.actions = actions
        self.selectors = selectors
        self.denied = denied
        self.generation = generation
    }
}

/// Identity and credentials of the task a record is about (`struct defend_task`).
public struct TaskInfo: Sendable, Hashable {
    public var pid: Int32          // tgid, initial pid namespace
    public var tid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    public var uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32
    public var ttyMajor: UInt32, ttyMinor: UInt32
    /// Group leader start time, nanoseconds since boot (CLOCK_BOOTTIME).
    public var startBootNs: UInt64
    public var parentStartBootNs: UInt64
    public var capEffective: UInt64, capPermitted: UInt64
    public var cgroupID: UInt64
    public var pidNamespaceInode: UInt32
    public var namespacePid: Int32
    public var comm: String

    public init(pid: Int32, tid: Int32 = 0, ppid: Int32 = 0, pgid: Int32 = 0, sid: Int32 = 0,
                uid: UInt32 = 0, euid: UInt32 = 0, gid: UInt32 = 0, egid: UInt32 = 0,
                ttyMajor: UInt32 = 0, ttyMinor: UInt32 = 0, startBootNs: UInt64 = 0,
                parentStartBootNs: UInt64 = 0, capEffective: UInt64 = 0, capPermitted: UInt64 = 0,
                cgroupID: UInt64 = 0, pidNamespaceInode: UInt32 = 0, namespacePid: Int32 = 0,
                comm: String = "") {
        self.pid = pid; self.tid = tid == 0 ? pid : tid; self.ppid = ppid; self.pgid = pgid; self.sid = sid
        self.uid = uid; self.euid = euid; self.gid = gid; self.egid = egid
        self.ttyMajor = ttyMajor; self.ttyMinor = ttyMinor
        self.startBootNs = startBootNs; self.parentStartBootNs = parentStartBootNs
        self.capEffective = capEffective; self.capPermitted = capPermitted
        self.cgroupID = cgroupID; self.pidNamespaceInode = pidNamespaceInode
        self.namespacePid = namespacePid; self.comm = comm
    }

    /// A real terminal: pts (majors 136-143) or a virtual console (major 4).
    public var hasInteractiveTTY: Bool {
        (136...143).contains(ttyMajor) || ttyMajor == 4
    }
}

public struct ForkRecord: Sendable, Hashable {
    public var child: TaskInfo     // for a denied fork: the parent (child never existed)
    public init(child: TaskInfo) { self.child = child }
}

/// How the kernel resolves paths (bpf/defend_abi.h), modelled exactly by both evaluators: from the
/// root of the mount namespace (not the task's chroot), at any length and depth up to
/// `DEFEND_WALK_STEPS` steps. Policy strings are shorter than `PathLimits.patternMax`, so a path's
/// first bytes decide, however long it is.
public enum PathState: Sendable, Hashable {
    /// The whole absolute path.
    case complete
    /// The first bytes of a longer absolute path (cut at a component boundary; more components
    /// follow). Judged exactly: as the prefix of a path that continues below it.
    case truncated
    /// The part of a path the kernel could not resolve from the namespace root (a tail, not
    /// absolute). Never matched as an absolute path: every path condition "may match" it. A
    /// response fires when it matches a selector of the operation and excludes none known to match;
    /// so a block that could apply refuses (fail closed) and adds an alert, and a log or alert that
    /// could apply reports it (marked unresolved).
    case unresolved

    public init(truncated: Bool, unresolved: Bool) {
        self = unresolved ? .unresolved : (truncated ? .truncated : .complete)
    }
}

public struct ExecRecord: Sendable, Hashable {
    public var task: TaskInfo
    public var filename: String        // resolved path of the new executable
    public var cwd: String
    public var args: [String]
    public var argc: Int
    public var filenameTruncated: Bool
    public var cwdTruncated: Bool
    public var argsTruncated: Bool
    public var filenameUnresolved: Bool
    public var cwdUnresolved: Bool
    /// The executable / working directory had no name left (unlinked, removed): the path is the name
    /// it had.
    public var filenameDeleted: Bool
    public var cwdDeleted: Bool
    public init(task: TaskInfo, filename: String, cwd: String, args: [String], argc: Int? = nil,
                filenameTruncated: Bool = false, cwdTruncated: Bool = false, argsTruncated: Bool = false,
                filenameUnresolved: Bool = false, cwdUnresolved: Bool = false,
                filenameDeleted: Bool = false, cwdDeleted: Bool = false) {
        self.filenameDeleted = filenameDeleted; self.cwdDeleted = cwdDeleted
        self.task = task; self.filename = filename; self.cwd = cwd; self.args = args
        self.argc = argc ?? args.count
        self.filenameTruncated = filenameTruncated; self.cwdTruncated = cwdTruncated
        self.argsTruncated = argsTruncated
        self.filenameUnresolved = filenameUnresolved; self.cwdUnresolved = cwdUnresolved
    }

    public var filenameState: PathState { PathState(truncated: filenameTruncated, unresolved: filenameUnresolved) }
    public var cwdState: PathState { PathState(truncated: cwdTruncated, unresolved: cwdUnresolved) }
}

public struct ExitRecord: Sendable, Hashable {
    public var task: TaskInfo
    /// Raw wait status: exit code << 8 | terminating signal.
    public var exitStatus: Int32
    public init(task: TaskInfo, exitStatus: Int32) { self.task = task; self.exitStatus = exitStatus }
    public var exitCode: Int32 { (exitStatus >> 8) & 0xff }
    public var signal: Int32 { exitStatus & 0x7f }
}

public struct SetsidRecord: Sendable, Hashable {
    public var task: TaskInfo
    public init(task: TaskInfo) { self.task = task }
}

public struct FileRecord: Sendable, Hashable {
    public var task: TaskInfo
    public var path: String            // target (new name for rename/link)
    public var oldPath: String?        // rename/link source
    public var mode: UInt32
    public var inode: UInt64
    public var pathTruncated: Bool
    public var inVolumeMount: Bool
    public var isFileMount: Bool
    public var wasExecutable: Bool
    public var pathUnresolved: Bool
    public var oldPathTruncated: Bool
    public var oldPathUnresolved: Bool
    public init(task: TaskInfo, path: String, oldPath: String? = nil, mode: UInt32 = 0, inode: UInt64 = 0,
                pathTruncated: Bool = false, inVolumeMount: Bool = false, isFileMount: Bool = false,
                wasExecutable: Bool = false, pathUnresolved: Bool = false, oldPathTruncated: Bool = false,
                oldPathUnresolved: Bool = false) {
        self.task = task; self.path = path; self.oldPath = oldPath; self.mode = mode; self.inode = inode
        self.pathTruncated = pathTruncated; self.inVolumeMount = inVolumeMount
        self.isFileMount = isFileMount; self.wasExecutable = wasExecutable
        self.pathUnresolved = pathUnresolved; self.oldPathTruncated = oldPathTruncated
        self.oldPathUnresolved = oldPathUnresolved
    }

    public var pathState: PathState { PathState(truncated: pathTruncated, unresolved: pathUnresolved) }
    public var oldPathState: PathState { PathState(truncated: oldPathTruncated, unresolved: oldPathUnresolved) }
}

public struct CgroupRecord: Sendable, Hashable {
    public var cgroupID: UInt64
    public var level: UInt32
    public var path: String
    public var created: Bool           // mkdir (true) or rmdir (false)
    public init(cgroupID: UInt64, level: UInt32, path: String, created: Bool) {
        self.cgroupID = cgroupID; self.level = level; self.path = path; self.created = created
    }
}

/// One decoded ring-buffer record.
public enum KernelRecord: Sendable, Hashable {
    case fork(ForkRecord)
    case exec(ExecRecord)
    case exit(ExitRecord)
    case setsid(SetsidRecord)
    case file(FileRecord)
    case cgroup(CgroupRecord)
}

/// A record with the kernel's decision and where it came from.
public struct KernelEvent: Sendable, Hashable {
    public var record: KernelRecord
    public var hook: HookPoint
    public var decision: Decision
    /// bpf_ktime_get_boot_ns() when the kernel saw it.
    public var bootTimeNs: UInt64
    public init(record: KernelRecord, hook: HookPoint, decision: Decision = Decision(), bootTimeNs: UInt64) {
        self.record = record; self.hook = hook; self.decision = decision; self.bootTimeNs = bootTimeNs
    }
}
