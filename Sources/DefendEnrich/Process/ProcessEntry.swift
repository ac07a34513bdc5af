import DefendEvents

/// An image a process ran before its latest exec (`process.previous`).
public struct PreviousImage: Sendable, Hashable {
    public var executable: String?
    public var args: [String]
    public init(executable: String?, args: [String]) { self.executable = executable; self.args = args }
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
    /// Full path of the executable, nil when unknown (placeholder, kernel thread).
    public var executable: String?
    /// Basename of the executable, or the kernel task name when the executable is unknown.
    public var name: String
    public var comm: String
    public var args: [String]
    public var argsTruncated: Bool
    public var workingDirectory: String?
    /// Earlier images, most recent first; at most `ProcessTable.Limits.previousImages`.
    public var previous: [PreviousImage]
    /// Set when the process exited (boot ns), with its exit code.
    public var endBootNs: UInt64?
    public var exitCode: Int32?
    /// Bits `1 << HookPoint.rawValue` of every hook that reported this process.
    public var hookMask: UInt32
    /// Actions decided on this process's fork/exec records (so its `end` can follow a logged start).
    public var reportedActions: ActionSet
    public var origin: ProcessOrigin
    public var entityID: String

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
        self.executable = executable; self.name = name; self.comm = comm; self.args = args
        self.argsTruncated = argsTruncated; self.workingDirectory = workingDirectory; self.previous = previous
        self.endBootNs = endBootNs; self.exitCode = exitCode; self.hookMask = hookMask
        self.reportedActions = reportedActions; self.origin = origin; self.entityID = entityID
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
    mutating func update(from task: TaskInfo) {
        ppid = task.ppid; pgid = task.pgid; sid = task.sid
        uid = task.uid; euid = task.euid; gid = task.gid; egid = task.egid
        ttyMajor = task.ttyMajor; ttyMinor = task.ttyMinor
        capEffective = task.capEffective; capPermitted = task.capPermitted
        cgroupID = task.cgroupID; pidNamespaceInode = task.pidNamespaceInode; namespacePid = task.namespacePid
        if !task.comm.isEmpty { comm = task.comm }
        if executable == nil, !task.comm.isEmpty { name = task.comm }
    }
}

/// How the entry leader entered the system (`process.entry_leader.entry_meta.type`).
public enum EntryLeaderType: String, Sendable, Hashable {
    case container, sshd, `init`, terminal, unknown
}

/// A process with its relatives resolved: what one ECS document describes.
public struct ProcessView: Sendable, Hashable {
    public var process: ProcessEntry
    public var parent: ProcessEntry?
    public var groupLeader: ProcessEntry?
    public var sessionLeader: ProcessEntry?
    public var entryLeader: ProcessEntry?
    public var entryLeaderType: EntryLeaderType?

    public init(process: ProcessEntry, parent: ProcessEntry? = nil, groupLeader: ProcessEntry? = nil,
                sessionLeader: ProcessEntry? = nil, entryLeader: ProcessEntry? = nil,
                entryLeaderType: EntryLeaderType? = nil) {
        self.process = process; self.parent = parent; self.groupLeader = groupLeader
        self.sessionLeader = sessionLeader; self.entryLeader = entryLeader; self.entryLeaderType = entryLeaderType
    }

    /// Same process as `process` (pid and start time): `same_as_process` of a relative.
    public func isSameAsProcess(_ other: ProcessEntry) -> Bool {
        other.pid == process.pid && other.startBootNs == process.startBootNs
    }
}
