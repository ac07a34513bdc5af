import DefendEvents

/// An image a process ran before its latest exec (`process.previous`).
public struct PreviousImage: Sendable, Hashable {
    public var executable: String?
    public var args: [String]
    public init(executable: String?, args: [String]) { self.executable = executable; self.args = args }
}

/// The image a process runs: immutable and shared by reference, so copying an entry (fork, views)
/// costs one retain instead of one per string. Changed by replacing it (`with(...)`).
public final class ProcessImage: Sendable, Hashable {
    public let executable: String?
    public let name: String
    public let args: [String]
    public let argsTruncated: Bool
    /// The process's full argc (the kernel's count, even when `args` holds fewer).
    public let argsCount: Int
    public let workingDirectory: String?
    /// The executable / working directory has no name left (unlinked, removed): the path is the name
    /// it had.
    public let executableDeleted: Bool
    public let workingDirectoryDeleted: Bool
    public let previous: [PreviousImage]

    public init(executable: String? = nil, name: String = "", args: [String] = [], argsTruncated: Bool = false,
                argsCount: Int? = nil, workingDirectory: String? = nil, executableDeleted: Bool = false,
                workingDirectoryDeleted: Bool = false, previous: [PreviousImage] = []) {
        self.executable = executable; self.name = name; self.args = args; self.argsTruncated = argsTruncated
        self.argsCount = max(argsCount ?? args.count, args.count)
        self.workingDirectory = workingDirectory; self.executableDeleted = executableDeleted
        self.workingDirectoryDeleted = workingDirectoryDeleted; self.previous = previous
    }

    public func with(executable: String?? = nil, name: String? = nil, args: [String]? = nil,
                     argsTruncated: Bool? = nil, argsCount: Int? = nil, workingDirectory: String?? = nil,
                     executableDeleted: Bool? = nil, workingDirectoryDeleted: Bool? = nil,
                     previous: [PreviousImage]? = nil) -> ProcessImage {
        // new args without a new count: the count follows the args
        let count = argsCount ?? (args == nil ? self.argsCount : nil)
        return ProcessImage(executable: executable ?? self.executable, name: name ?? self.name, args: args ?? self.args,
                            argsTruncated: argsTruncated ?? self.argsTruncated, argsCount: count,
                            workingDirectory: workingDirectory ?? self.workingDirectory,
                            executableDeleted: executableDeleted ?? self.executableDeleted,
                            workingDirectoryDeleted: workingDirectoryDeleted ?? self.workingDirectoryDeleted,
                            previous: previous ?? self.previous)
    }

    public static func == (a: ProcessImage, b: ProcessImage) -> Bool {
        a === b || (a.executable == b.executable && a.name == b.name && a.args == b.args
                    && a.argsTruncated == b.argsTruncated && a.argsCount == b.argsCount
                    && a.workingDirectory == b.workingDirectory && a.executableDeleted == b.executableDeleted
                    && a.workingDirectoryDeleted == b.workingDirectoryDeleted && a.previous == b.previous)
    }

    public func hash(into h: inout Hasher) {
        h.combine(executable); h.combine(name); h.combine(args); h.combine(workingDirectory)
    }
}

/// Where what we know about a process came from.
public enum ProcessOrigin: UInt8, Sendable, Hashable {
    case kernel       // built from fork/exec records
    case procScan     // seeded from /proc at start (or looked up there for an unknown pid)
    case placeholder  // only the TaskInfo of a record for a pid we never saw (missed events)
}

/// One process (thread group) as the table knows it.
public struct ProcessEntry: Sendable, Hashable {
    public var pid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    /// Group leader start, ns since boot. With `/proc` seeding this has clock-tick precision.
    public var startBootNs: UInt64
    public var uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32
    public var ttyMajor: UInt32, ttyMinor: UInt32
    public var capEffective: UInt64, capPermitted: UInt64
    public var cgroupID: UInt64
    public var pidNamespaceInode: UInt32
    public var namespacePid: Int32
    /// What the process runs; shared (not copied) between a parent and its forked children.
    public var image: ProcessImage
    public var comm: String
    /// Set when the process exited (boot ns), with its exit code.
    public var endBootNs: UInt64?
    public var exitCode: Int32?
    /// Bits `1 << HookPoint.rawValue` of every hook that reported this process.
    public var hookMask: UInt32
    /// Actions decided on this process's fork/exec records (so its `end` can follow a logged start).
    public var reportedActions: ActionSet
    public var origin: ProcessOrigin
    public var entityID: String
    /// Changes whenever the table stores a new version of this entry (0: not stored, e.g. the attempted
    /// image of a denied exec). Lets consumers cache what they derive from an entry.
    public var revision: UInt64 = 0
    /// Cached entry leader (pid, start, type); pid 0 = not computed. Cleared when the ancestry or
    /// session changes (reparenting, setsid); inherited by forked children below the leader.
    var leaderPID: Int32 = 0
    var leaderStart: UInt64 = 0
    var leaderType: EntryLeaderType = .unknown

    public init(pid: Int32, ppid: Int32 = 0, pgid: Int32 = 0, sid: Int32 = 0, startBootNs: UInt64 = 0,
                uid: UInt32 = 0, euid: UInt32 = 0, gid: UInt32 = 0, egid: UInt32 = 0,
                ttyMajor: UInt32 = 0, ttyMinor: UInt32 = 0, capEffective: UInt64 = 0, capPermitted: UInt64 = 0,
                cgroupID: UInt64 = 0, pidNamespaceInode: UInt32 = 0, namespacePid: Int32 = 0,
                executable: String? = nil, name: String = "", comm: String = "", args: [String] = [],
                argsTruncated: Bool = false, workingDirectory: String? = nil, previous: [PreviousImage] = [],
                endBootNs: UInt64? = nil, exitCode: Int32? = nil, hookMask: UInt32 = 0,
                reportedActions: ActionSet = [], origin: ProcessOrigin = .kernel, entityID: String = "") {
        self.pid = pid; self.ppid = ppid; self.pgid = pgid; self.sid = sid; self.startBootNs = startBootNs
        self.uid = uid; self.euid = euid; self.gid = gid; self.egid = egid
        self.ttyMajor = ttyMajor; self.ttyMinor = ttyMinor
        self.capEffective = capEffective; self.capPermitted = capPermitted
        self.cgroupID = cgroupID; self.pidNamespaceInode = pidNamespaceInode; self.namespacePid = namespacePid
        self.image = ProcessImage(executable: executable, name: name, args: args, argsTruncated: argsTruncated,
                                  workingDirectory: workingDirectory, previous: previous)
        self.comm = comm
        self.endBootNs = endBootNs; self.exitCode = exitCode; self.hookMask = hookMask
        self.reportedActions = reportedActions; self.origin = origin; self.entityID = entityID
    }

    /// Full path of the executable, nil when unknown (placeholder, kernel thread).
    public var executable: String? {
        get { image.executable }
        set { image = image.with(executable: newValue) }
    }
    /// Basename of the executable, or the kernel task name when the executable is unknown.
    public var name: String {
        get { image.name }
        set { image = image.with(name: newValue) }
    }
    public var args: [String] {
        get { image.args }
        set { image = image.with(args: newValue) }
    }
    public var argsTruncated: Bool {
        get { image.argsTruncated }
        set { image = image.with(argsTruncated: newValue) }
    }
    public var workingDirectory: String? {
        get { image.workingDirectory }
        set { image = image.with(workingDirectory: newValue) }
    }
    public var argsCount: Int {
        get { image.argsCount }
        set { image = image.with(argsCount: newValue) }
    }
    public var executableDeleted: Bool {
        get { image.executableDeleted }
        set { image = image.with(executableDeleted: newValue) }
    }
    public var workingDirectoryDeleted: Bool {
        get { image.workingDirectoryDeleted }
        set { image = image.with(workingDirectoryDeleted: newValue) }
    }
    /// Earlier images, most recent first; at most `ProcessTable.Limits.previousImages`.
    public var previous: [PreviousImage] {
        get { image.previous }
        set { image = image.with(previous: newValue) }
    }

    /// Controlling terminal is a real tty: pts (majors 136-143) or a virtual console (major 4).
    public var interactive: Bool { (136...143).contains(ttyMajor) || ttyMajor == 4 }
    public var isSessionLeader: Bool { sid == pid }
    public var isGroupLeader: Bool { pgid == pid }
    public var hasEnded: Bool { endBootNs != nil }

    /// Hooks that reported this process, in hook order (`cloud_defend.hook_point` of process events).
    public var hooks: [HookPoint] {
        var out: [HookPoint] = []
        var mask = hookMask
        while mask != 0 {
            let bit = UInt32(mask.trailingZeroBitCount)
            if let hook = HookPoint(rawValue: bit) { out.append(hook) }
            mask &= mask - 1
        }
        return out
    }

    /// Copies identity and credentials the kernel reported in a record (they change with setuid, setsid,
    /// reparenting); keeps the image fields.
    /// Returns whether anything changed.
    @discardableResult
    mutating func update(from task: TaskInfo) -> Bool {
        let changed = ppid != task.ppid || pgid != task.pgid || sid != task.sid || uid != task.uid
            || euid != task.euid || gid != task.gid || egid != task.egid || ttyMajor != task.ttyMajor
            || ttyMinor != task.ttyMinor || capEffective != task.capEffective || capPermitted != task.capPermitted
            || cgroupID != task.cgroupID || (!task.comm.isEmpty && comm != task.comm)
        guard changed else { return false }
        if ppid != task.ppid || sid != task.sid || ttyMajor != task.ttyMajor { leaderPID = 0 }
        ppid = task.ppid; pgid = task.pgid; sid = task.sid
        uid = task.uid; euid = task.euid; gid = task.gid; egid = task.egid
        ttyMajor = task.ttyMajor; ttyMinor = task.ttyMinor
        capEffective = task.capEffective; capPermitted = task.capPermitted
        cgroupID = task.cgroupID; pidNamespaceInode = task.pidNamespaceInode; namespacePid = task.namespacePid
        if !task.comm.isEmpty { comm = task.comm }
        if image.executable == nil, !task.comm.isEmpty, image.name != task.comm { name = task.comm }
        return true
    }
}

/// How the entry leader entered the system (`process.entry_leader.entry_meta.type`).
public enum EntryLeaderType: String, Sendable, Hashable {
    case container, sshd, `init`, terminal, unknown
}

/// One stored version of an entry. Immutable and shared: views and the table hold references,
/// so resolving relatives costs retains instead of copies of ~180-byte entries.
final class EntryBox: Sendable {
    let entry: ProcessEntry
    init(_ entry: ProcessEntry) { self.entry = entry }
}

/// A process with its relatives resolved: what one ECS document describes.
/// The entries live in shared boxes, so passing a view around costs a retain, not ~1 KB of copying.
public struct ProcessView: Sendable, Hashable {
    private final class Storage: Sendable {
        let process: EntryBox
        let parent: EntryBox?
        let groupLeader: EntryBox?
        let sessionLeader: EntryBox?
        let entryLeader: EntryBox?
        let entryLeaderType: EntryLeaderType?
        init(_ process: EntryBox, _ parent: EntryBox?, _ groupLeader: EntryBox?,
             _ sessionLeader: EntryBox?, _ entryLeader: EntryBox?, _ entryLeaderType: EntryLeaderType?) {
            self.process = process; self.parent = parent; self.groupLeader = groupLeader
            self.sessionLeader = sessionLeader; self.entryLeader = entryLeader; self.entryLeaderType = entryLeaderType
        }
    }
    private var storage: Storage

    public init(process: ProcessEntry, parent: ProcessEntry? = nil, groupLeader: ProcessEntry? = nil,
                sessionLeader: ProcessEntry? = nil, entryLeader: ProcessEntry? = nil,
                entryLeaderType: EntryLeaderType? = nil) {
        storage = Storage(EntryBox(process), parent.map(EntryBox.init), groupLeader.map(EntryBox.init),
                          sessionLeader.map(EntryBox.init), entryLeader.map(EntryBox.init), entryLeaderType)
    }

    init(boxes process: EntryBox, parent: EntryBox?, groupLeader: EntryBox?, sessionLeader: EntryBox?,
         entryLeader: EntryBox?, entryLeaderType: EntryLeaderType?) {
        storage = Storage(process, parent, groupLeader, sessionLeader, entryLeader, entryLeaderType)
    }

    private func replacing(process: EntryBox? = nil, parent: EntryBox?? = nil, groupLeader: EntryBox?? = nil,
                           sessionLeader: EntryBox?? = nil, entryLeader: EntryBox?? = nil,
                           entryLeaderType: EntryLeaderType?? = nil) -> Storage {
        Storage(process ?? storage.process, parent ?? storage.parent, groupLeader ?? storage.groupLeader,
                sessionLeader ?? storage.sessionLeader, entryLeader ?? storage.entryLeader,
                entryLeaderType ?? storage.entryLeaderType)
    }

    public var process: ProcessEntry {
        get { storage.process.entry }
        set { storage = replacing(process: EntryBox(newValue)) }
    }
    public var parent: ProcessEntry? {
        get { storage.parent?.entry }
        set { storage = replacing(parent: .some(newValue.map(EntryBox.init))) }
    }
    public var groupLeader: ProcessEntry? {
        get { storage.groupLeader?.entry }
        set { storage = replacing(groupLeader: .some(newValue.map(EntryBox.init))) }
    }
    public var sessionLeader: ProcessEntry? {
        get { storage.sessionLeader?.entry }
        set { storage = replacing(sessionLeader: .some(newValue.map(EntryBox.init))) }
    }
    public var entryLeader: ProcessEntry? {
        get { storage.entryLeader?.entry }
        set { storage = replacing(entryLeader: .some(newValue.map(EntryBox.init))) }
    }
    public var entryLeaderType: EntryLeaderType? {
        get { storage.entryLeaderType }
        set { storage = replacing(entryLeaderType: .some(newValue)) }
    }

    public static func == (a: ProcessView, b: ProcessView) -> Bool {
        a.storage === b.storage || (a.process == b.process && a.parent == b.parent && a.groupLeader == b.groupLeader
            && a.sessionLeader == b.sessionLeader && a.entryLeader == b.entryLeader
            && a.entryLeaderType == b.entryLeaderType)
    }

    public func hash(into h: inout Hasher) { h.combine(process); h.combine(parent?.pid); h.combine(entryLeader?.pid) }

    /// Same process as `process` (pid and start time): `same_as_process` of a relative.
    public func isSameAsProcess(_ other: ProcessEntry) -> Bool {
        other.pid == storage.process.entry.pid && other.startBootNs == storage.process.entry.startBootNs
    }
}
