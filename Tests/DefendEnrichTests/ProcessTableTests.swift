import Testing
import DefendEvents
@testable import DefendEnrich

/// Builders for hand-made kernel events.
enum Ev {
    static let sec: UInt64 = 1_000_000_000
    static func task(_ pid: Int32, ppid: Int32, start: UInt64, pgid: Int32? = nil, sid: Int32? = nil,
                     comm: String = "", tty: UInt32 = 0, uid: UInt32 = 0, parentStart: UInt64 = 0,
                     cgroup: UInt64 = 0) -> TaskInfo {
        TaskInfo(pid: pid, ppid: ppid, pgid: pgid ?? pid, sid: sid ?? pid, uid: uid, euid: uid, gid: uid, egid: uid,
                 ttyMajor: tty, ttyMinor: tty == 0 ? 0 : 3, startBootNs: start, parentStartBootNs: parentStart,
                 cgroupID: cgroup, comm: comm)
    }
    static func fork(_ t: TaskInfo, at: UInt64? = nil, actions: ActionSet = [], denied: Bool = false) -> KernelEvent {
        KernelEvent(record: .fork(ForkRecord(child: t)), hook: .sched_process_fork,
                    decision: Decision(operation: .fork, actions: actions, denied: denied), bootTimeNs: at ?? t.startBootNs)
    }
    static func exec(_ t: TaskInfo, _ file: String, _ args: [String], cwd: String = "/", at: UInt64? = nil,
                     actions: ActionSet = [], denied: Bool = false) -> KernelEvent {
        // The exec tracepoint reports the task already renamed after the new executable (comm).
        var t = t
        t.comm = String(decoding: Array((file.split(separator: "/").last.map(String.init) ?? "").utf8.prefix(15)), as: UTF8.self)
        return KernelEvent(record: .exec(ExecRecord(task: t, filename: file, cwd: cwd, args: args)), hook: .sched_process_exec,
                    decision: Decision(operation: .exec, actions: actions, denied: denied), bootTimeNs: at ?? t.startBootNs + 1000)
    }
    static func exit(_ t: TaskInfo, status: Int32 = 0, at: UInt64) -> KernelEvent {
        KernelEvent(record: .exit(ExitRecord(task: t, exitStatus: status)), hook: .sched_process_exit, bootTimeNs: at)
    }
    static func setsid(_ t: TaskInfo, at: UInt64) -> KernelEvent {
        KernelEvent(record: .setsid(SetsidRecord(task: t)), hook: .sys_exit_setsid, bootTimeNs: at)
    }
    static func file(_ t: TaskInfo, _ path: String, at: UInt64) -> KernelEvent {
        KernelEvent(record: .file(FileRecord(task: t, path: path)), hook: .file_open,
                    decision: Decision(operation: .createFile, actions: .log), bootTimeNs: at)
    }
}

func makeTable(limits: ProcessTable.Limits = .init()) -> ProcessTable {
    ProcessTable(agentID: "agent-1", clock: BootClock(bootEpochNs: 1_700_000_000 * 1_000_000_000), limits: limits)
}

/// init(1) -> bash(100), both exec'ed, bash a session leader on a pts.
func seedShell(_ t: ProcessTable) -> (TaskInfo, TaskInfo) {
    let initTask = Ev.task(1, ppid: 0, start: 1 * Ev.sec, comm: "systemd")
    t.apply(Ev.exec(initTask, "/sbin/init", ["/sbin/init"]))
    let bash = Ev.task(100, ppid: 1, start: 10 * Ev.sec, comm: "bash", tty: 136)
    t.apply(Ev.fork(bash))
    t.apply(Ev.exec(bash, "/bin/bash", ["bash", "-l"], cwd: "/root"))
    return (initTask, bash)
}

@Suite struct ProcessTableTests {
    @Test func forkCopiesParentImageAndCredentials() throws {
        let t = makeTable()
        let (_, bash) = seedShell(t)
        let child = Ev.task(200, ppid: 100, start: 20 * Ev.sec, pgid: 200, sid: 100, comm: "bash", tty: 136)
        let v = try #require(t.apply(Ev.fork(child)))
        #expect(v.process.pid == 200)
        #expect(v.process.executable == "/bin/bash")
        #expect(v.process.args == ["bash", "-l"])
        #expect(v.process.workingDirectory == "/root")
        #expect(v.process.startBootNs == 20 * Ev.sec)
        #expect(v.process.previous.isEmpty)
        #expect(v.process.hooks == [.sched_process_fork])
        #expect(v.parent?.pid == bash.pid)
        #expect(v.groupLeader?.pid == 200)
        #expect(v.sessionLeader?.pid == 100)
        #expect(v.process.interactive)
        #expect(v.entryLeader?.pid == 100)
        #expect(v.entryLeaderType == .`init`)
    }

    @Test func processNameIsTheTaskNameThePolicyMatches() throws {
        let t = makeTable()
        _ = seedShell(t)
        let c = Ev.task(301, ppid: 100, start: 31 * Ev.sec, sid: 100, comm: "sh")
        t.apply(Ev.fork(c))
        // /bin/sh -> /usr/bin/dash: the kernel names the task "sh" (what `processName: [sh]` matches).
        let exec = ExecRecord(task: c, filename: "/usr/bin/dash", cwd: "/", args: ["sh", "-c", "true"])
        let v = try #require(t.apply(KernelEvent(record: .exec(exec), hook: .sched_process_exec,
                                                 decision: Decision(operation: .exec), bootTimeNs: 32 * Ev.sec)))
        #expect(v.process.executable == "/usr/bin/dash")
        #expect(v.process.name == "sh")
    }

    @Test func execReplacesImageAndKeepsBoundedPrevious() throws {
        var limits = ProcessTable.Limits(); limits.previousImages = 2
        let t = makeTable(limits: limits)
        _ = seedShell(t)
        let c = Ev.task(300, ppid: 100, start: 30 * Ev.sec, sid: 100, comm: "sh")
        t.apply(Ev.fork(c))
        t.apply(Ev.exec(c, "/bin/sh", ["sh", "-c", "x"]))
        t.apply(Ev.exec(c, "/usr/bin/env", ["env", "ls"]))
        let v = try #require(t.apply(Ev.exec(c, "/usr/bin/ls", ["ls", "-la"], cwd: "/tmp")))
        #expect(v.process.executable == "/usr/bin/ls")
        #expect(v.process.name == "ls")
        #expect(v.process.args == ["ls", "-la"])
        #expect(v.process.workingDirectory == "/tmp")
        #expect(v.process.previous.map(\.executable) == ["/usr/bin/env", "/bin/sh"])
        #expect(v.process.previous.first?.args == ["env", "ls"])
        #expect(v.process.hooks == [.sched_process_fork, .sched_process_exec])
        // entity id is stable across exec
        #expect(v.process.entityID == t.entry(pid: 300)?.entityID)
    }

    @Test func entityIDIsBase64OfAgentPidStartSeconds() throws {
        let t = makeTable()
        _ = seedShell(t)
        let e = try #require(t.entry(pid: 100))
        let expected = EntityID.base64(Array("agent-1-100-\(1_700_000_000 + 10)".utf8))
        #expect(e.entityID == expected)
        #expect(EntityID.base64(Array("ab".utf8)) == "YWI=")
        #expect(EntityID.base64(Array("abc".utf8)) == "YWJj")
        #expect(EntityID.base64(Array("a".utf8)) == "YQ==")
    }

    @Test func setsidMakesANewSessionLeader() throws {
        let t = makeTable()
        _ = seedShell(t)
        let d = Ev.task(400, ppid: 100, start: 40 * Ev.sec, pgid: 100, sid: 100, comm: "daemon", tty: 136)
        t.apply(Ev.fork(d))
        let after = Ev.task(400, ppid: 100, start: 40 * Ev.sec, pgid: 400, sid: 400, comm: "daemon")
        let v = try #require(t.apply(Ev.setsid(after, at: 41 * Ev.sec)))
        #expect(v.sessionLeader?.pid == 400)
        #expect(v.groupLeader?.pid == 400)
        #expect(!v.process.interactive)
        #expect(v.process.hooks.contains(.sys_exit_setsid))
    }

    @Test func reparentingToInitAfterParentExit() throws {
        let t = makeTable()
        _ = seedShell(t)
        let mid = Ev.task(500, ppid: 100, start: 50 * Ev.sec, sid: 100, comm: "sh")
        t.apply(Ev.fork(mid))
        let leaf = Ev.task(501, ppid: 500, start: 51 * Ev.sec, sid: 100, comm: "sleep")
        t.apply(Ev.fork(leaf))
        let v0 = try #require(t.apply(Ev.exit(mid, at: 52 * Ev.sec)))
        #expect(v0.process.endBootNs == 52 * Ev.sec)
        // the kernel reparents the leaf to init; its next record says so
        let reparented = Ev.task(501, ppid: 1, start: 51 * Ev.sec, sid: 100, comm: "sleep")
        let v = try #require(t.apply(Ev.file(reparented, "/tmp/x", at: 53 * Ev.sec)))
        #expect(v.parent?.pid == 1)
        #expect(v.parent?.executable == "/sbin/init")
        #expect(v.entryLeaderType == .`init`)
        #expect(v.entryLeader?.pid == 501)
    }

    @Test func exitMarksEndedThenReapsAfterGrace() throws {
        let t = makeTable()
        _ = seedShell(t)
        let c = Ev.task(600, ppid: 100, start: 60 * Ev.sec, comm: "true")
        t.apply(Ev.fork(c))
        let v = try #require(t.apply(Ev.exit(c, status: 3 << 8, at: 61 * Ev.sec)))
        #expect(v.process.exitCode == 3)
        #expect(v.process.hasEnded)
        #expect(v.process.hooks == [.sched_process_fork, .sched_process_exit])
        #expect(t.entry(pid: 600) != nil) // still visible during grace
        t.reap(nowBootNs: 61 * Ev.sec + 4 * Ev.sec)
        #expect(t.entry(pid: 600) != nil)
        t.reap(nowBootNs: 61 * Ev.sec + 5 * Ev.sec)
        #expect(t.entry(pid: 600) == nil)
        #expect(t.entry(pid: 100) != nil)
    }

    @Test func childExitBeforeParentAndLateRecordForEndedParent() throws {
        let t = makeTable()
        _ = seedShell(t)
        let p = Ev.task(700, ppid: 100, start: 70 * Ev.sec, comm: "make")
        let c = Ev.task(701, ppid: 700, start: 71 * Ev.sec, comm: "cc")
        t.apply(Ev.fork(p)); t.apply(Ev.fork(c))
        t.apply(Ev.exit(p, at: 72 * Ev.sec))          // parent exits first
        let v = try #require(t.apply(Ev.exit(c, at: 72 * Ev.sec + 10)))
        #expect(v.parent?.pid == 700)                   // ended parent still resolvable in grace
        #expect(v.parent?.hasEnded == true)
        // exit for an already-ended process does not move its end time
        let again = try #require(t.apply(Ev.exit(c, at: 80 * Ev.sec)))
        #expect(again.process.endBootNs == 72 * Ev.sec + 10)
    }

    @Test func pidReuseReplacesEntryByStartTime() throws {
        let t = makeTable()
        _ = seedShell(t)
        let old = Ev.task(800, ppid: 100, start: 80 * Ev.sec, comm: "old")
        t.apply(Ev.fork(old)); t.apply(Ev.exec(old, "/usr/bin/old", ["old"]))
        let oldID = try #require(t.entry(pid: 800)?.entityID)
        // exit missed; a new process gets pid 800
        let new = Ev.task(800, ppid: 100, start: 90 * Ev.sec, comm: "new")
        let v = try #require(t.apply(Ev.exec(new, "/usr/bin/new", ["new"])))
        #expect(v.process.executable == "/usr/bin/new")
        #expect(v.process.previous.isEmpty)           // nothing inherited from the old process
        #expect(v.process.entityID != oldID)
        #expect(v.process.startBootNs == 90 * Ev.sec)
        // a parent that started after the child is a reused pid, not the parent
        let orphan = Ev.task(900, ppid: 800, start: 85 * Ev.sec, comm: "orphan")
        let ov = try #require(t.apply(Ev.file(orphan, "/x", at: 95 * Ev.sec)))
        #expect(ov.parent == nil)
    }

    @Test func unknownPidBecomesPlaceholderFromTaskInfo() throws {
        let t = makeTable()
        let ghost = Ev.task(4242, ppid: 4000, start: 5 * Ev.sec, comm: "ghost", uid: 1000)
        let v = try #require(t.apply(Ev.file(ghost, "/etc/passwd", at: 6 * Ev.sec)))
        #expect(v.process.origin == .placeholder)
        #expect(v.process.name == "ghost")
        #expect(v.process.executable == nil)
        #expect(v.process.euid == 1000)
        #expect(v.parent == nil)
        #expect(v.entryLeader?.pid == 4242)
        #expect(v.entryLeaderType == .unknown)
        // a fork from an unknown parent still creates the child
        let kid = Ev.task(4243, ppid: 4100, start: 7 * Ev.sec, comm: "kid")
        let kv = try #require(t.apply(Ev.fork(kid)))
        #expect(kv.process.pid == 4243)
        #expect(kv.process.name == "kid")
    }

    @Test func deniedExecAndForkLeaveTheTableUnchanged() throws {
        let t = makeTable()
        _ = seedShell(t)
        let bash = Ev.task(100, ppid: 1, start: 10 * Ev.sec, comm: "bash", tty: 136)
        let v = try #require(t.apply(Ev.exec(bash, "/tmp/evil", ["evil"], actions: [.alert, .block], denied: true)))
        #expect(v.process.executable == "/tmp/evil")        // the attempted image
        #expect(t.entry(pid: 100)?.executable == "/bin/bash") // unchanged
        let fv = try #require(t.apply(Ev.fork(bash, at: 12 * Ev.sec, actions: [.alert, .block], denied: true)))
        #expect(fv.process.pid == 100)
        #expect(t.count == 2)
    }

    @Test func entryLeaderForContainerSshdAndTerminal() throws {
        let t = makeTable()
        _ = seedShell(t)
        // containerd-shim -> nginx (container init) -> worker
        let shim = Ev.task(1000, ppid: 1, start: 100 * Ev.sec, comm: "containerd-shim")
        t.apply(Ev.fork(shim)); t.apply(Ev.exec(shim, "/usr/bin/containerd-shim-runc-v2", ["containerd-shim-runc-v2"]))
        let nginx = Ev.task(1001, ppid: 1000, start: 101 * Ev.sec, comm: "nginx")
        t.apply(Ev.fork(nginx)); t.apply(Ev.exec(nginx, "/usr/sbin/nginx", ["nginx"]))
        let worker = Ev.task(1002, ppid: 1001, start: 102 * Ev.sec, pgid: 1001, sid: 1001, comm: "nginx")
        let wv = try #require(t.apply(Ev.fork(worker)))
        #expect(wv.entryLeader?.pid == 1001)
        #expect(wv.entryLeaderType == .container)
        let nv = try #require(t.view(pid: 1001))
        #expect(nv.entryLeader?.pid == 1001)
        // sshd -> bash -> ls
        let sshd = Ev.task(2000, ppid: 1, start: 200 * Ev.sec, comm: "sshd")
        t.apply(Ev.fork(sshd)); t.apply(Ev.exec(sshd, "/usr/sbin/sshd", ["sshd", "-D"]))
        let sh = Ev.task(2001, ppid: 2000, start: 201 * Ev.sec, comm: "bash", tty: 136)
        t.apply(Ev.fork(sh)); t.apply(Ev.exec(sh, "/bin/bash", ["-bash"]))
        let ls = Ev.task(2002, ppid: 2001, start: 202 * Ev.sec, sid: 2001, comm: "ls", tty: 136)
        t.apply(Ev.fork(ls))
        let lv = try #require(t.apply(Ev.exec(ls, "/bin/ls", ["ls"])))
        #expect(lv.entryLeader?.pid == 2001)
        #expect(lv.entryLeaderType == .sshd)
        // login -> bash (session leader on tty1) -> vi
        let login = Ev.task(3000, ppid: 1, start: 300 * Ev.sec, comm: "login")
        t.apply(Ev.fork(login)); t.apply(Ev.exec(login, "/bin/login", ["login"]))
        let tsh = Ev.task(3001, ppid: 3000, start: 301 * Ev.sec, comm: "bash", tty: 4)
        t.apply(Ev.fork(tsh)); t.apply(Ev.exec(tsh, "/bin/bash", ["-bash"]))
        let vi = Ev.task(3002, ppid: 3001, start: 302 * Ev.sec, sid: 3001, comm: "vi", tty: 4)
        let vv = try #require(t.apply(Ev.fork(vi)))
        #expect(vv.entryLeader?.pid == 3001)
        #expect(vv.entryLeaderType == .terminal)
        #expect(vv.sessionLeader?.interactive == true)
        // pid 1 itself
        #expect(t.view(pid: 1)?.entryLeaderType == .`init`)
    }

    @Test func memoryStaysBoundedOverManyShortProcesses() {
        var limits = ProcessTable.Limits(); limits.maxEnded = 100
        let t = makeTable(limits: limits)
        _ = seedShell(t)
        var pid: Int32 = 10_000
        for i in 0..<200_000 {
            let start = UInt64(1000 + i) * 1_000_000
            let c = Ev.task(pid, ppid: 100, start: start, comm: "true")
            t.apply(Ev.fork(c))
            t.apply(Ev.exit(c, at: start + 500))
            pid = pid >= 4_000_000 ? 10_000 : pid + 1
        }
        #expect(t.endedCount <= 100)
        #expect(t.count <= 2 + 100)
    }

    @Test func totalBoundEvictsLeastRecentlySeen() {
        var limits = ProcessTable.Limits(); limits.maxEntries = 1000
        let t = makeTable(limits: limits)
        _ = seedShell(t)
        for i in 0..<5000 {
            t.apply(Ev.fork(Ev.task(Int32(20_000 + i), ppid: 100, start: UInt64(100 + i) * Ev.sec)))
        }
        #expect(t.count <= 1000)
        #expect(t.entry(pid: 20_000 + 4999) != nil) // the most recent survives
    }
}
