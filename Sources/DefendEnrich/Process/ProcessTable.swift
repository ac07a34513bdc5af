import DefendEvents

/// The agent's model of every process on the host, keyed by tgid and fed by kernel records.
///
/// - fork: the child starts as a copy of the parent (image, args, cwd, credentials) with its own
///   identity from the record; a denied fork changes nothing (the record's task is the parent).
/// - exec: replaces image, args and cwd; the old image goes to `previous` (most recent first, bounded).
///   A denied exec changes nothing: the returned view shows the attempted image.
/// - exit: marks the entry ended (`endBootNs`, `exitCode`); it is reaped after `Limits.endedGraceNs` of
///   event time, or sooner when more than `Limits.maxEnded` ended entries wait.
/// - every record refreshes identity/credentials from its TaskInfo (ppid after reparenting, sid after setsid).
/// - a record for a pid we do not know (missed events) creates the entry from `/proc` when a reader is
///   configured and the start time matches, else a placeholder from the TaskInfo.
/// - pid reuse: an entry whose start time differs from the record's is replaced.
/// - entries are stored as immutable boxes (a new one per change, with a new `revision`), so the views
///   handed out are snapshots that cost retains, and consumers can cache by (pid, start, revision).
///
/// Not thread-safe: one pipeline task owns it.
public final class ProcessTable {
    public struct Limits: Sendable {
        /// Images kept in `process.previous`.
        public var previousImages = 3
        /// Arguments kept per process (the rest are dropped and `argsTruncated` is set).
        public var maxArgs = 256
        /// Event time an ended process stays visible (late records, children naming it as parent).
        public var endedGraceNs: UInt64 = 5_000_000_000
        /// Ended entries waiting to be reaped; beyond this the oldest go at once.
        public var maxEnded = 8192
        /// Total entries; beyond this ended ones are reaped, then the least recently updated quarter
        /// (most likely stale: exits lost with ring-buffer records). ~1.2 KB each. Call
        /// `sweepVanished()` from a timer to drop stale entries long before this bound.
        public var maxEntries = 1 << 16
        /// Ancestors walked to find the entry leader.
        public var maxAncestry = 64
        public init() {}
    }

    public let agentID: String
    public let clock: BootClock
    public var limits: Limits
    /// Optional source for pids we never saw (nil: placeholders only).
    public var procReader: ProcReader?

    private var entries: [Int32: EntryBox] = [:]
    private var ended = EndedQueue()
    private var sequence: UInt64 = 0
    private let startToleranceNs: UInt64

    public init(agentID: String, clock: BootClock, limits: Limits = Limits(), procReader: ProcReader? = nil) {
        self.agentID = agentID
        self.clock = clock
        self.limits = limits
        self.procReader = procReader
        // /proc start times have clock-tick precision; the kernel's have ns. Same process if within a tick.
        self.startToleranceNs = (procReader?.tickNs ?? 10_000_000) + 1
    }

    public var count: Int { entries.count }
    public var endedCount: Int { ended.count }

    public func entry(pid: Int32) -> ProcessEntry? { entries[pid]?.entry }

    // MARK: seeding

    /// Adds processes read from `/proc` (call before consuming kernel events). Existing entries win.
    public func seed(_ snapshots: [ProcSnapshot]) {
        for snap in snapshots where entries[snap.entry.pid] == nil {
            var e = snap.entry
            e.entityID = entityID(pid: e.pid, startBootNs: e.startBootNs)
            store(&e)
        }
    }

    /// Reads every process from the configured (or default) procfs and seeds the table. Returns the
    /// snapshots so the caller can feed their cgroup paths to the container registry.
    @discardableResult
    public func seedFromProc(_ reader: ProcReader = ProcReader()) -> [ProcSnapshot] {
        let snaps = reader.scanAll()
        seed(snaps)
        return snaps
    }

    // MARK: records

    /// Applies one kernel event and returns the view of the process it is about (after the change),
    /// or nil for records that are not about a process (cgroup).
    @discardableResult
    public func apply(_ event: KernelEvent) -> ProcessView? {
        let hookBit: UInt32 = event.hook.rawValue < 32 ? 1 << event.hook.rawValue : 0
        let actions = event.decision.actions
        switch event.record {
        case .fork(let r):
            if event.decision.denied {
                var parent = ensure(r.child).entry
                parent.hookMask |= hookBit
                parent.revision = 0
                return view(of: EntryBox(parent))
            }
            return view(of: fork(r.child, hookBit: hookBit, actions: actions))
        case .exec(let r):
            var e = ensure(r.task).entry
            applyExec(r, to: &e)
            e.hookMask |= hookBit
            e.reportedActions.formUnion(actions)
            if event.decision.denied { e.revision = 0; return view(of: EntryBox(e)) }
            return view(of: store(&e))
        case .exit(let r):
            var e = ensure(r.task).entry
            e.hookMask |= hookBit
            if e.endBootNs == nil {
                e.endBootNs = max(event.bootTimeNs, e.startBootNs)
                e.exitCode = r.exitCode
                ended.push(pid: e.pid, startBootNs: e.startBootNs, endBootNs: e.endBootNs ?? 0)
            }
            let v = view(of: store(&e))
            reap(nowBootNs: event.bootTimeNs)
            return v
        case .setsid(let r):
            var e = ensure(r.task).entry
            e.hookMask |= hookBit
            return view(of: store(&e))
        case .file(let r):
            return view(of: ensure(r.task))
        case .cgroup:
            return nil
        }
    }

    /// The current view of a pid, nil when unknown.
    public func view(pid: Int32) -> ProcessView? {
        guard let b = entries[pid] else { return nil }
        return view(of: b)
    }

    // MARK: reaping

    /// Drops ended processes whose grace period passed at `nowBootNs` (event time), and enforces the
    /// ended/total bounds. Called by `apply` on every exit; call it from a timer when idle.
    public func reap(nowBootNs: UInt64) {
        while let oldest = ended.peek() {
            let expired = oldest.endBootNs &+ limits.endedGraceNs <= nowBootNs
            guard expired || ended.count > limits.maxEnded else { break }
            ended.pop()
            if let old = entries[oldest.pid], old.entry.startBootNs == oldest.startBootNs, old.entry.hasEnded {
                entries[oldest.pid] = nil
            }
        }
    }

    /// Removes live entries whose process no longer exists in procfs (exit records lost). For a timer.
    public func sweepVanished(_ reader: ProcReader = ProcReader()) -> Int {
        var gone: [Int32] = []
        for (pid, b) in entries where !b.entry.hasEnded {
            if let snap = reader.read(pid: pid), sameStart(snap.entry.startBootNs, b.entry.startBootNs) { continue }
            gone.append(pid)
        }
        for pid in gone { entries[pid] = nil }
        return gone.count
    }

    // MARK: internals

    private func fork(_ task: TaskInfo, hookBit: UInt32, actions: ActionSet) -> EntryBox {
        var child: ProcessEntry
        if let parent = liveParent(pid: task.ppid, childStart: task.startBootNs) ?? unknownParent(task) {
            child = parent
            if !parent.image.previous.isEmpty { child.previous = [] }
        } else {
            child = ProcessEntry(pid: task.pid, name: task.comm, comm: task.comm, origin: .placeholder)
        }
        // `child` is still a copy of the parent here. The child shares the parent's entry leader unless
        // the parent is a boundary of the rules (pid 1, runtime, sshd, login): then the walk decides.
        let inherit = child.leaderPID != 0 && child.pid == task.ppid && child.pid != 1
            && !Self.isContainerRuntime(child) && child.name != "sshd" && child.comm != "sshd" && !Self.isLogin(child)
        let (lp, ls, lt) = (child.leaderPID, child.leaderStart, child.leaderType)
        child.pid = task.pid
        child.update(from: task)
        if inherit {
            (child.leaderPID, child.leaderStart, child.leaderType) = (lp, ls, lt)
        } else {
            child.leaderPID = 0
        }
        child.startBootNs = task.startBootNs
        child.endBootNs = nil
        child.exitCode = nil
        child.hookMask = hookBit
        child.reportedActions = actions
        if child.origin == .procScan { child.origin = .kernel }
        child.entityID = entityID(pid: task.pid, startBootNs: task.startBootNs)
        return store(&child)
    }

    private func applyExec(_ r: ExecRecord, to e: inout ProcessEntry) {
        let old = e.image
        var previous = old.previous
        if old.executable != nil || !old.args.isEmpty {
            previous.insert(PreviousImage(executable: old.executable, args: old.args), at: 0)
            if previous.count > limits.previousImages { previous.removeLast(previous.count - limits.previousImages) }
        }
        let capped = r.args.count > limits.maxArgs
        // process.name is the task name (comm) the kernel set at exec, which is what `processName`
        // selectors match: exec of /bin/sh -> dash is named "sh", as the policy sees it.
        let name = r.task.comm.isEmpty ? Self.basename(r.filename) : r.task.comm
        let keepCwd = r.cwd.isEmpty
        e.image = ProcessImage(executable: r.filename, name: name,
                               args: capped ? Array(r.args.prefix(limits.maxArgs)) : r.args,
                               argsTruncated: capped || r.argsTruncated || r.argc > r.args.count,
                               argsCount: r.argc,
                               workingDirectory: keepCwd ? old.workingDirectory : r.cwd,
                               executableDeleted: r.filenameDeleted,
                               workingDirectoryDeleted: keepCwd ? old.workingDirectoryDeleted : r.cwdDeleted,
                               previous: previous)
        e.origin = .kernel
    }

    /// The entry for the record's task, refreshed from it; created when unknown or reused.
    private func ensure(_ task: TaskInfo) -> EntryBox {
        if let b = entries[task.pid], sameStart(b.entry.startBootNs, task.startBootNs) {
            var e = b.entry
            var changed = e.update(from: task)
            if e.startBootNs == 0, task.startBootNs != 0 {
                e.startBootNs = task.startBootNs; e.entityID = entityID(pid: e.pid, startBootNs: e.startBootNs)
                changed = true
            }
            return changed ? store(&e) : b
        }
        var e: ProcessEntry
        if let reader = procReader, let snap = reader.read(pid: task.pid),
           sameStart(snap.entry.startBootNs, task.startBootNs) {
            e = snap.entry
            e.update(from: task)
        } else {
            e = ProcessEntry(pid: task.pid, name: task.comm, comm: task.comm, origin: .placeholder)
            e.update(from: task)
            e.startBootNs = task.startBootNs
        }
        e.entityID = entityID(pid: e.pid, startBootNs: e.startBootNs)
        return store(&e)
    }

    private func unknownParent(_ child: TaskInfo) -> ProcessEntry? {
        guard child.ppid > 0, let reader = procReader, let snap = reader.read(pid: child.ppid),
              child.parentStartBootNs == 0 || sameStart(snap.entry.startBootNs, child.parentStartBootNs) else { return nil }
        var e = snap.entry
        e.entityID = entityID(pid: e.pid, startBootNs: e.startBootNs)
        store(&e)
        return e
    }

    private func liveParent(pid: Int32, childStart: UInt64) -> ProcessEntry? {
        guard pid > 0, let p = entries[pid] else { return nil }
        // A parent cannot start after its child: otherwise the pid was reused.
        if childStart != 0, p.entry.startBootNs > childStart &+ startToleranceNs { return nil }
        return p.entry
    }

    private func sameStart(_ a: UInt64, _ b: UInt64) -> Bool {
        if a == 0 || b == 0 { return true }
        return (a > b ? a - b : b - a) < startToleranceNs
    }

    /// Stores a new version of the entry; its `revision` (also the recency used for eviction) is set.
    @discardableResult
    private func store(_ e: inout ProcessEntry) -> EntryBox {
        sequence &+= 1
        e.revision = sequence
        let box = EntryBox(e)
        entries[e.pid] = box
        if entries.count > limits.maxEntries { shrink() }
        return box
    }

    /// Over the total bound: reap every ended entry, then drop the least recently seen quarter.
    private func shrink() {
        reap(nowBootNs: .max)
        guard entries.count > limits.maxEntries else { return }
        let drop = max(1, limits.maxEntries / 4)
        let victims = entries.sorted { $0.value.entry.revision < $1.value.entry.revision }.prefix(drop).map(\.key)
        for pid in victims { entries[pid] = nil }
    }

    private func entityID(pid: Int32, startBootNs: UInt64) -> String {
        EntityID.make(agentID: agentID, pid: pid, startUnixSeconds: clock.unixSeconds(bootNs: startBootNs))
    }

    // MARK: relatives

    func view(of b: EntryBox) -> ProcessView {
        let e = b.entry
        let parent = relative(pid: e.ppid, of: e, mustPrecede: true)
        let group = e.pgid == e.pid ? b : relative(pid: e.pgid, of: e, mustPrecede: false)
        let session = e.sid == e.pid ? b : relative(pid: e.sid, of: e, mustPrecede: false)
        let (leader, type) = cachedEntryLeader(of: b, parent: parent)
        return ProcessView(boxes: b, parent: parent, groupLeader: group, sessionLeader: session,
                           entryLeader: leader, entryLeaderType: type)
    }

    private func relative(pid: Int32, of e: ProcessEntry, mustPrecede: Bool) -> EntryBox? {
        guard pid > 0, pid != e.pid, let r = entries[pid] else { return nil }
        if mustPrecede, e.startBootNs != 0, r.entry.startBootNs > e.startBootNs &+ startToleranceNs { return nil }
        return r
    }

    /// The entry leader from the entry's cache when still valid; otherwise walked and cached.
    private func cachedEntryLeader(of b: EntryBox, parent: EntryBox?) -> (EntryBox, EntryLeaderType) {
        let e = b.entry
        if e.leaderPID != 0 {
            if e.leaderPID == e.pid, e.leaderStart == e.startBootNs { return (b, e.leaderType) }
            if let l = entries[e.leaderPID], l.entry.startBootNs == e.leaderStart { return (l, e.leaderType) }
        }
        let (leader, type) = entryLeader(of: b, parent: parent)
        if e.revision != 0, let stored = entries[e.pid], stored === b {
            var cached = e
            cached.leaderPID = leader.entry.pid
            cached.leaderStart = leader.entry.startBootNs
            cached.leaderType = type
            entries[e.pid] = EntryBox(cached)
        }
        return (leader, type)
    }

    /// Entry leader rules, checked for each process `cur` from the subject up its ancestry, with `p` its parent:
    /// 1. `cur` is pid 1 -> `init`.
    /// 2. `p` is a container runtime (`containerd-shim*`, `runc*`, `conmon`) -> `container`.
    /// 3. `p` is `sshd` -> `sshd`.
    /// 4. `cur` leads its session, has a tty, and `p` is `login`/`getty`/`agetty`/`mingetty` -> `terminal`.
    /// 5. `p` is pid 1 -> `init` (a service started by init).
    /// 6. `p` unknown (or the walk exceeds `maxAncestry`) -> `cur`, `unknown` (the topmost known ancestor).
    private func entryLeader(of b: EntryBox, parent: EntryBox?) -> (EntryBox, EntryLeaderType) {
        var cur = b
        var p = parent
        for _ in 0..<limits.maxAncestry {
            if cur.entry.pid == 1 { return (cur, .`init`) }
            guard let par = p else { return (cur, .unknown) }
            if Self.isContainerRuntime(par.entry) { return (cur, .container) }
            if par.entry.name == "sshd" || par.entry.comm == "sshd" { return (cur, .sshd) }
            if cur.entry.isSessionLeader, cur.entry.interactive, Self.isLogin(par.entry) { return (cur, .terminal) }
            if par.entry.pid == 1 { return (cur, .`init`) }
            let next = relative(pid: par.entry.ppid, of: par.entry, mustPrecede: true)
            cur = par
            p = next
        }
        return (cur, .unknown)
    }

    static func isContainerRuntime(_ e: ProcessEntry) -> Bool {
        isRuntimeName(e.name) || isRuntimeName(e.comm)
    }

    private static func isRuntimeName(_ n: String) -> Bool {
        n.hasPrefix("containerd-shim") || n.hasPrefix("runc") || n == "conmon"
    }

    static func isLogin(_ e: ProcessEntry) -> Bool {
        ["login", "getty", "agetty", "mingetty"].contains(e.name)
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }
}

/// FIFO of ended processes awaiting reaping (array with a moving head; compacted when half empty).
struct EndedQueue {
    struct Item { var pid: Int32; var startBootNs: UInt64; var endBootNs: UInt64 }
    private var items: [Item] = []
    private var head = 0
    var count: Int { items.count - head }
    mutating func push(pid: Int32, startBootNs: UInt64, endBootNs: UInt64) {
        items.append(Item(pid: pid, startBootNs: startBootNs, endBootNs: endBootNs))
    }
    func peek() -> Item? { head < items.count ? items[head] : nil }
    mutating func pop() {
        head += 1
        if head > 1024, head * 2 > items.count { items.removeFirst(head); head = 0 }
    }
}
