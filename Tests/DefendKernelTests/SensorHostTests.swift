import DefendEvents
@testable import DefendKernel
import DefendPolicy
import Glibc
import Testing

/// The real sensor on this host's kernel, with real processes. Needs root; on a kernel
/// without BPF-LSM (like the CI host) the sensor must run tracepoints only and say so.
@Suite(.serialized, .enabled(if: Host.isRoot, "needs root to load BPF programs"))
struct SensorHostTests {
    @Test func degradesWithoutLSMAndSaysSo() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(ringBufferBytes: 1 << 20))
        defer { sensor.close() }
        let caps = sensor.capabilities
        #expect(caps.processEvents, "fork/exec/exit must attach: \(caps.failed)")
        #expect(caps.cgroupEvents, "cgroup tracepoints must attach: \(caps.failed)")
        #expect(caps.btf)
        #expect(caps.ringBuffer)
        if caps.lsmListed != true {
            // This host: BPF-LSM refused. Nothing may claim file events or blocking.
            #expect(!caps.lsmActive)
            #expect(!caps.fileEvents)
            #expect(!caps.blocking)
            #expect(caps.summary.contains("file events and blocking are OFF"))
            #expect(caps.blockingWarning(policyBlocks: true) != nil)
            #expect(caps.failed["defend_file_open"] != nil)
        }
        #expect(caps.blockingWarning(policyBlocks: false) == nil)
        let losses = sensor.lossCounters()
        #expect(losses.reserveFailures.count == LossCounters.EventType.allCases.count)
        #expect(losses.decodeErrors == 0)
    }

    @Test func processLifecycleRecordsInANewCgroup() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("life"))
        defer { Host.removeCgroup(cg.path) }
        let cwd = "/tmp/defend-kernel-test-\(getpid())"
        mkdir(cwd, 0o755)
        defer { rmdir(cwd) }

        let script = "cd \(cwd) && echo $$ > \(cg.path)/cgroup.procs && /bin/true alpha 'b c'; exit 7"
        let run = Host.runShell(script)
        #expect(run.pid > 0)
        #expect((run.status >> 8) & 0xff == 7)

        let events = Host.collect(sensor) { evs in
            evs.contains { $0.exit?.task.pid == run.pid }
                && evs.contains { $0.exec?.task.cgroupID == cg.id && $0.exec?.filename.hasSuffix("/true") == true }
                && evs.contains { $0.cgroup?.cgroupID == cg.id }
        }
        // cgroup mkdir: id is the directory inode, path relative to the hierarchy root
        let mk = try #require(events.compactMap(\.cgroup).first { $0.cgroupID == cg.id })
        #expect(mk.created)
        #expect(mk.path.hasSuffix("/defend-test-\(getpid())-life"))
        #expect(events.first { $0.cgroup?.cgroupID == cg.id }?.hook == .cgroup_mkdir)

        // the shell: fork record (child of this test process), setsid, exit status 7
        let shFork = try #require(events.compactMap(\.fork).first { $0.child.pid == run.pid })
        #expect(shFork.child.ppid == getpid())
        #expect(shFork.child.startBootNs > 0)
        let sid = try #require(events.compactMap(\.setsid).first { $0.task.pid == run.pid })
        #expect(sid.task.sid == run.pid)
        let shExit = try #require(events.compactMap(\.exit).first { $0.task.pid == run.pid })
        #expect(shExit.exitCode == 7)
        #expect(shExit.task.cgroupID == cg.id)

        // /bin/true: forked by the shell inside the cgroup, exec with argv and cwd, exit 0
        let exec = try #require(events.compactMap(\.exec).first { $0.task.cgroupID == cg.id && $0.filename.hasSuffix("/true") })
        #expect(exec.filename == "/usr/bin/true" || exec.filename == "/bin/true")
        #expect(exec.args == ["/bin/true", "alpha", "b c"])
        #expect(exec.argc == 3)
        #expect(!exec.argsTruncated)
        #expect(exec.cwd == cwd)
        #expect(exec.task.ppid == run.pid)
        #expect(exec.task.comm == "true")
        #expect(exec.task.ttyMajor == 0 && exec.task.ttyMinor == 0)
        #expect(exec.task.sid == run.pid)
        #expect(exec.task.uid == 0 && exec.task.euid == 0)
        #expect(exec.task.pidNamespaceInode != 0)
        #expect(exec.task.parentStartBootNs == shFork.child.startBootNs)
        let execEvent = try #require(events.first { $0.exec == exec })
        #expect(execEvent.hook == .sched_process_exec)
        #expect(execEvent.decision.actions == [])  // telemetry only: no policy
        let trueFork = try #require(events.compactMap(\.fork).first { $0.child.pid == exec.task.pid })
        #expect(trueFork.child.cgroupID == cg.id)
        #expect(trueFork.child.ppid == run.pid)
        let trueExit = try #require(events.compactMap(\.exit).first { $0.task.pid == exec.task.pid })
        #expect(trueExit.exitStatus == 0)
        #expect(sensor.lossCounters().decodeErrors == 0)
    }

    /// Selectors 0..4 of the process section:
    ///   0: processName `name`            1: processExecutable /usr/bin/<name> (exact)
    ///   2: processExecutable /usr/**     3: processExecutable /usr/bin/*     4: exact /usr/bin/tru (never)
    static func tables(name: String) -> KernelTables {
        var t = KernelTables()
        t.processTelemetry = false
        t.opMask[Int(PolicyOperation.exec.rawValue)] = 0b11111
        t.pathAnyMask = [0, 0b00001]
        t.nameAnyMask = 0b11110
        t.interactiveMask = [~0, ~0]
        t.responses[1] = [
            .init(match: 0b00001, exclude: 0, actions: .log),
            .init(match: 0b00010, exclude: 0, actions: .alert),
            .init(match: 0b01100, exclude: 0, actions: .log),
            .init(match: 0b10000, exclude: 0, actions: [.block, .alert]),
        ]
        t.pathEntries = [
            .init(section: .process, kind: .name, string: name, mask: 0b00001),
            .init(section: .process, kind: .exact, string: "/usr/bin/\(name)", mask: 0b00010),
            .init(section: .process, kind: .descendant, string: "/usr", mask: 0b00100),
            .init(section: .process, kind: .child, string: "/usr/bin", mask: 0b01000),
            .init(section: .process, kind: .exact, string: "/usr/bin/tru", mask: 0b10000),
        ]
        return t
    }

    @Test func kernelPolicyDecidesAndGenerationSwapChangesTheDecision() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("policy"))
        defer { Host.removeCgroup(cg.path) }
        let all = ContainerMasks(file: ~0, process: ~0)
        try sensor.apply(Self.tables(name: "true"), containerMasks: [cg.id: all])
        let gen1 = sensor.activeGeneration

        let enter = "echo $$ > \(cg.path)/cgroup.procs"
        _ = Host.runShell("\(enter) && /bin/true x; /bin/false; exit 0")
        var events = Host.collect(sensor) { evs in evs.contains { $0.exec?.task.cgroupID == cg.id } }
        let mine = events.filter { $0.exec?.task.cgroupID == cg.id }
        let hit = try #require(mine.first)
        #expect(hit.exec?.filename == "/usr/bin/true")
        #expect(hit.exec?.args == ["/bin/true", "x"])
        #expect(hit.decision.operation == .exec)
        #expect(hit.decision.actions == [.log, .alert])      // no block: selector 4 must not match
        #expect(hit.decision.selectors == 0b01111)
        #expect(hit.decision.generation == gen1)
        #expect(!hit.decision.denied)
        // /bin/false matched only the path selectors 2 and 3 (log)
        _ = Host.collect(sensor, seconds: 1) { _ in false }.map { events.append($0) }
        let falseExec = events.first { $0.exec?.task.cgroupID == cg.id && $0.exec?.filename == "/usr/bin/false" }
        #expect(falseExec?.decision.selectors == 0b01100)
        #expect(falseExec?.decision.actions == [.log])
        // the host (not a container, host mask 0) is not evaluated: nothing from outside the cgroup
        #expect(events.allSatisfy { $0.exec == nil || $0.exec?.task.cgroupID == cg.id })

        // swap: now only `false` matches the name/exact selectors; path selectors dropped
        var next = Self.tables(name: "false")
        next.opMask[Int(PolicyOperation.exec.rawValue)] = 0b00011
        try sensor.apply(next)  // the cgroup keeps its (unknown -> re-sent) masks
        try sensor.setContainer(cgroupID: cg.id, masks: all)
        let gen2 = sensor.activeGeneration
        #expect(gen2 != gen1)
        _ = Host.runShell("\(enter) && /bin/true; /bin/false; exit 0")
        events = Host.collect(sensor) { evs in evs.contains { $0.exec?.filename == "/usr/bin/false" } }
        _ = Host.collect(sensor, seconds: 0.5) { _ in false }.map { events.append($0) }
        let after = events.filter { $0.exec?.task.cgroupID == cg.id }
        #expect(after.count == 1)
        let f = try #require(after.first)
        #expect(f.exec?.filename == "/usr/bin/false")
        #expect(f.decision.selectors == 0b00011)
        #expect(f.decision.actions == [.log, .alert])
        #expect(f.decision.generation == gen2)

        // container removed: the cgroup falls back to the host mask (0): nothing is evaluated
        sensor.removeContainer(cgroupID: cg.id)
        _ = Host.runShell("\(enter) && /bin/false; exit 0")
        let none = Host.collect(sensor, seconds: 1) { _ in false }
        #expect(none.allSatisfy { $0.exec == nil })
    }

    @Test func ringBufferEventsStream() async throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let stream = sensor.events(pollTimeoutMs: 50)
        let run = Host.runShell("exit 3")
        var seen = false
        for await event in stream {
            if let exit = event.exit, exit.task.pid == run.pid {
                #expect(exit.exitCode == 3)
                seen = true
                break
            }
        }
        #expect(seen)
    }
}
