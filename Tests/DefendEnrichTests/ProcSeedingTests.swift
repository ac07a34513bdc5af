import Testing
import Glibc
import Foundation
import DefendEvents
@testable import DefendEnrich

@Suite struct ProcSeedingTests {
    @Test func seedingFindsThisTestProcess() throws {
        let t = ProcessTable(agentID: "a", clock: .system())
        let snaps = t.seedFromProc()
        #expect(snaps.count > 1)
        let me = try #require(t.entry(pid: getpid()))
        #expect(me.ppid == getppid())
        #expect(me.args == CommandLine.arguments)
        #expect(me.workingDirectory == FileManager.default.currentDirectoryPath)
        #expect(me.executable == (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
        #expect(me.euid == geteuid())
        #expect(me.egid == getegid())
        #expect(me.sid == getsid(0))
        #expect(me.pgid == getpgrp())
        #expect(me.origin == .procScan)
        // start time: before now, after boot, and consistent with /proc/self/stat
        #expect(me.startBootNs > 0 && me.startBootNs <= BootClock.nowBootNs())
        let parent = try #require(t.view(pid: getpid())?.parent)
        #expect(parent.pid == getppid())
        #expect(t.view(pid: 1)?.entryLeaderType == .`init`)
        let mine = try #require(snaps.first { $0.entry.pid == getpid() })
        #expect(mine.cgroupPath?.hasPrefix("/") == true)
    }

    @Test func statParsingHandlesHostileCommAndTty() throws {
        let line = Array("42 (a) b (c) S 7 42 40 34816 42 4194560 0 0 0 0 1 2 0 0 20 0 1 0 12345 0 0".utf8)
        let e = try #require(ProcReader.parseStat(line, tickNs: 10_000_000))
        #expect(e.pid == 42)
        #expect(e.comm == "a) b (c")
        #expect(e.ppid == 7)
        #expect(e.pgid == 42)
        #expect(e.sid == 40)
        #expect(e.ttyMajor == 136)  // 34816 = 136 << 8
        #expect(e.ttyMinor == 0)
        #expect(e.startBootNs == 12345 * 10_000_000)
        #expect(e.interactive)
        let kthread = Array("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0".utf8)
        #expect(ProcReader.parseStat(kthread, tickNs: 10_000_000) == nil)
    }

    @Test func statusAndCmdlineParsing() {
        var e = ProcessEntry(pid: 1)
        ProcReader.applyStatus(Array("Name:\tx\nUid:\t1000\t1001\t1000\t1000\nGid:\t20\t21\t20\t20\nCapEff:\t000001ffffffffff\nNSpid:\t900\t1\n".utf8), to: &e)
        #expect(e.uid == 1000 && e.euid == 1001 && e.gid == 20 && e.egid == 21)
        #expect(e.capEffective == 0x1ffffffffff)
        #expect(e.namespacePid == 1)
        #expect(ProcReader.splitArgs(Array("ls\0-la\0\0x\0".utf8)) == ["ls", "-la", "", "x"])
        #expect(ProcReader.parseCgroupV2(Array("0::/system.slice/x.service\n".utf8)) == "/system.slice/x.service")
    }

    /// procfs's " (deleted)" suffix becomes a flag, so the name is the name the file had.
    @Test func deletedLinkTargetsAreFlagged() {
        #expect(ProcReader.deletedSuffix("/tmp/x (deleted)") == ("/tmp/x", true))
        #expect(ProcReader.deletedSuffix("/usr/bin/ls") == ("/usr/bin/ls", false))
        #expect(ProcReader.deletedSuffix(nil) == (nil, false))
        // a live process whose working directory is removed: read back from /proc as deleted
        let dir = "/tmp/defend-cwd-gone-\(getpid())"
        #expect(mkdir(dir, 0o700) == 0)
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup("cd \(dir) && rmdir \(dir) && exec sleep 5"), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ) == 0)
        defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
        var snap: ProcSnapshot?
        for _ in 0..<100 {
            snap = ProcReader().read(pid: pid)
            if snap?.entry.workingDirectoryDeleted == true { break }
            usleep(20_000)
        }
        #expect(snap?.entry.workingDirectoryDeleted == true)
        #expect(snap?.entry.workingDirectory == dir)
        #expect(snap?.entry.executableDeleted == false)
    }

    @Test func unknownPidIsFilledFromProcWhenReaderConfigured() throws {
        let reader = ProcReader()
        let t = ProcessTable(agentID: "a", clock: .system(), procReader: reader)
        let snap = try #require(reader.read(pid: getpid()))
        let task = TaskInfo(pid: getpid(), ppid: getppid(), pgid: getpgrp(), sid: getsid(0),
                            startBootNs: snap.entry.startBootNs + 3_000_000, comm: "x")
        let v = try #require(t.apply(KernelEvent(record: .file(FileRecord(task: task, path: "/x")), hook: .file_open,
                                                bootTimeNs: BootClock.nowBootNs())))
        #expect(v.process.origin == .procScan)
        #expect(v.process.args == CommandLine.arguments)
    }

    @Test func sweepDropsEntriesWhoseProcessIsGone() throws {
        let t = ProcessTable(agentID: "a", clock: .system())
        let me = try #require(ProcReader().read(pid: getpid()))
        t.seed([me])
        let ghost = TaskInfo(pid: 3_999_999, ppid: 1, startBootNs: 5, comm: "ghost")
        t.apply(KernelEvent(record: .fork(ForkRecord(child: ghost)), hook: .sched_process_fork, bootTimeNs: 5))
        #expect(t.count == 2)
        #expect(t.sweepVanished() == 1)
        #expect(t.entry(pid: 3_999_999) == nil)
        #expect(t.entry(pid: getpid()) != nil)
    }
}
