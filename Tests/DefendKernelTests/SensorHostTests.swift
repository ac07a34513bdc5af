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
        if caps.lsmActive {
            // a kernel with BPF-LSM (e.g. the QEMU guest): everything on, nothing to warn about
            #expect(caps.fileEvents && caps.blocking)
            #expect(caps.summary.contains("file events and blocking ON"))
            #expect(caps.blockingWarning(policyBlocks: true) == nil)
        } else {
            // this host: BPF-LSM refused. Nothing may claim file events or blocking.
            #expect(!caps.fileEvents)
            #expect(!caps.blocking)
            #expect(caps.lsmFailure != nil)
            #expect(caps.summary.contains("file events and blocking are OFF"))
            #expect(caps.blockingWarning(policyBlocks: true) != nil)
            #expect(caps.failed["defend_file_open"] != nil)
            #expect(!caps.attached.contains("defend_file_open"))
        }
        #expect(caps.blockingWarning(policyBlocks: false) == nil)
        // a kernel that lists bpf among its LSMs must take the LSM object: a load failure there is a bug
        if caps.lsmListed == true {
            #expect(caps.lsmActive, "BPF-LSM is active but the LSM object did not load: \(caps.lsmFailure ?? "")")
        }
        let losses = sensor.lossCounters()
        #expect(losses.reserveFailures.count == LossCounters.EventType.allCases.count)
        #expect(losses.decodeErrors == 0)
    }

    /// Both builds of the objects load here (this kernel has bpf_loop); each says which it is.
    @Test(arguments: [BPFObjectVariant.loop, .bounded])
    func bothObjectBuildsLoad(variant: BPFObjectVariant) throws {
        let sensor = try Sensor(configuration: SensorConfiguration(ringBufferBytes: 1 << 20, objectVariant: variant))
        defer { sensor.close() }
        #expect(sensor.capabilities.processEvents, "\(variant): \(sensor.capabilities.failed)")
        #expect(sensor.capabilities.objectVariant == variant.rawValue)
        #expect(sensor.capabilities.features.contains("bpf_loop yes"))
        if sensor.capabilities.lsmListed == true { #expect(sensor.capabilities.lsmActive) }
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
        if sensor.capabilities.setsidEvents {  // needs syscall tracepoints (CONFIG_FTRACE_SYSCALLS)
            let sid = try #require(events.compactMap(\.setsid).first { $0.task.pid == run.pid })
            #expect(sid.task.sid == run.pid)
            #expect(events.first { $0.setsid == sid }?.hook == .sys_exit_setsid)
        } else {
            #expect(sensor.capabilities.summary.contains("setsid events OFF"))
        }
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

        // a third apply reuses the first generation: its old paths are replaced, not merged
        var third = Self.tables(name: "false")
        third.pathEntries.removeAll { $0.kind == .exact }  // selectors 1 and 4 now match nothing
        try sensor.apply(third, containerMasks: [cg.id: all])
        #expect(sensor.activeGeneration == gen1)
        _ = Host.runShell("\(enter) && /bin/true; exit 0")
        events = Host.collect(sensor) { evs in evs.contains { $0.exec?.task.cgroupID == cg.id } }
        let reused = try #require(events.first { $0.exec?.task.cgroupID == cg.id })
        #expect(reused.exec?.filename == "/usr/bin/true")
        #expect(reused.decision.selectors == 0b01100)  // stale "/usr/bin/true" exact entry is gone
        #expect(reused.decision.generation == gen1)

        // container removed: the cgroup falls back to the host mask (0): nothing is evaluated
        try sensor.removeContainer(cgroupID: cg.id)
        _ = Host.runShell("\(enter) && /bin/false; exit 0")
        let none = Host.collect(sensor, seconds: 1) { _ in false }
        #expect(none.allSatisfy { $0.exec == nil })
    }

    /// A file reached through a bind mount of another filesystem (not the root's) is judged by the
    /// name it has from that filesystem's first mount too: a rule on <tmpfs>/bin/tool holds when the
    /// tool runs as <bind>/tool, and the record names it by its first name.
    @Test func bindMountOfAnotherFilesystemIsJudgedByItsFirstName() throws {
        let dir = "/tmp/defend-alias-\(getpid())"
        let setup = "mkdir -p \(dir)/data \(dir)/b && mount -t tmpfs tmpfs \(dir)/data && mkdir \(dir)/data/bin "
            + "&& cp /bin/true \(dir)/data/bin/tool && mount --bind \(dir)/data/bin \(dir)/b"
        try #require(Host.runShell(setup).status == 0, "tmpfs and bind mount (needs root)")
        defer { _ = Host.runShell("umount \(dir)/b; umount \(dir)/data; rm -rf \(dir)") }
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("alias"))
        defer { Host.removeCgroup(cg.path) }
        var t = KernelTables()
        t.processTelemetry = false
        t.opMask[Int(PolicyOperation.exec.rawValue)] = 0b1
        t.pathAnyMask = [0, 0]
        t.nameAnyMask = 0b1
        t.interactiveMask = [~0, ~0]
        t.responses[1] = [.init(match: 0b1, exclude: 0, actions: .alert)]
        t.pathEntries = [.init(section: .process, kind: .exact, string: "\(dir)/data/bin/tool", mask: 0b1)]
        try sensor.apply(t, containerMasks: [cg.id: ContainerMasks(file: ~0, process: ~0)])
        _ = Host.runShell("echo $$ > \(cg.path)/cgroup.procs && \(dir)/b/tool viabind; \(dir)/data/bin/tool direct; /bin/true other; exit 0")
        let events = Host.collect(sensor) { evs in evs.filter { $0.exec?.task.cgroupID == cg.id }.count >= 2 }
        let execs = events.compactMap { e in e.exec.map { (e, $0) } }.filter { $0.1.task.cgroupID == cg.id }
        let viaBind = try #require(execs.first { $0.1.args.last == "viabind" }, "no alert for the exec through the bind mount")
        #expect(viaBind.0.decision.actions == [.alert])
        #expect(viaBind.1.filename == "\(dir)/data/bin/tool")
        let direct = try #require(execs.first { $0.1.args.last == "direct" })
        #expect(direct.0.decision.actions == [.alert])
        #expect(!execs.contains { $0.1.args.last == "other" }, "an exec the rule does not name is not reported")
    }

    @Test func cgroupRecordsOnlyForTheV2Hierarchy() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        let v1 = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"]
            .first { access($0 + "/cgroup.procs", F_OK) == 0 && access($0 + "/cgroup.controllers", F_OK) != 0 }
        let v1Dir = v1.map { "\($0)/defend-test-\(getpid())-v1" }
        if let v1Dir { mkdir(v1Dir, 0o755) }
        let cg = try #require(Host.makeCgroup("v2"))
        Host.removeCgroup(cg.path)
        if let v1Dir { rmdir(v1Dir) }
        let events = Host.collect(sensor) { evs in
            evs.contains { $0.cgroup?.cgroupID == cg.id && $0.cgroup?.created == false }
        }
        let records = events.compactMap(\.cgroup)
        #expect(records.contains { $0.cgroupID == cg.id && $0.created })
        let rm = try #require(records.first { $0.cgroupID == cg.id && !$0.created })
        #expect(rm.path.hasSuffix("defend-test-\(getpid())-v2"))
        #expect(events.first { $0.cgroup == rm }?.hook == .cgroup_rmdir)
        // a v1 hierarchy (hybrid hosts) is not reported
        #expect(!records.contains { $0.path.hasSuffix("defend-test-\(getpid())-v1") })
    }

    /// Runtime-named container cgroups outside Kubernetes are containers from their mkdir, in the kernel
    /// alone (nothing reads the records here); look-alikes are not.
    @Test func runtimeNamedCgroupsAreContainersFromTheirMkdir() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        let parent = try #require(Host.makeCgroup("runtimes"))
        defer { Host.removeCgroup(parent.path) }
        let hex = String(repeating: "0123456789abcdef", count: 4)
        func mk(_ rel: String) throws -> UInt64 {
            let path = parent.path + "/" + rel
            #expect(mkdir(path, 0o755) == 0, "mkdir \(rel)")
            var st = stat()
            try #require(stat(path, &st) == 0)
            return UInt64(st.st_ino)
        }
        var made: [String] = []
        defer { for rel in made.reversed() { Host.removeCgroup(parent.path + "/" + rel) } }
        func check(_ rel: String, _ want: Bool) throws {
            made.append(rel)
            let id = try mk(rel)
            #expect(sensor.isContainer(cgroupID: id) == want, "\(rel)")
        }
        for prefix in ["docker-", "cri-containerd-", "crio-", "libpod-"] { try check(prefix + hex + ".scope", true) }
        try check("docker", false)
        try check("docker/" + hex, true)
        try check("docker-" + hex.dropLast() + ".scope", false)          // 63 hex digits
        try check("docker-" + hex.uppercased() + ".scope", false)       // not a runtime id
        try check("crio-conmon-" + hex + ".scope", false)               // cri-o's monitor, not the container
        try check("other-" + hex + ".scope", false)
        try check(hex, false)                                            // a bare id not under docker
        try check("docker-" + hex + ".scope/inner", true)               // below an adopted one
    }

    @Test func pathsCrossMountsAndDeepPathsAreWhole() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("paths"))
        defer { Host.removeCgroup(cg.path) }
        // cwd inside the cgroup2 mount (sysfs -> tmpfs -> cgroup2 on hybrid hosts): mount crossings
        let deepRoot = "/tmp/defend-deep-\(getpid())"
        let deep = deepRoot + String(repeating: "/d", count: 70)
        #expect(Host.runShell("mkdir -p \(deep)").status == 0)
        defer { _ = Host.runShell("rm -rf \(deepRoot)") }
        _ = Host.runShell("echo $$ > \(cg.path)/cgroup.procs; cd \(cg.path) && /bin/true mount; cd \(deep) && /bin/true deep")
        let events = Host.collect(sensor) { evs in
            evs.filter { $0.exec?.task.cgroupID == cg.id && $0.exec?.filename == "/usr/bin/true" }.count >= 2
        }
        let execs = events.compactMap(\.exec).filter { $0.task.cgroupID == cg.id && $0.filename == "/usr/bin/true" }
        let atMount = try #require(execs.first { $0.args.last == "mount" })
        #expect(atMount.cwd == cg.path)
        #expect(!atMount.cwdTruncated)
        let atDeep = try #require(execs.first { $0.args.last == "deep" })
        #expect(!atDeep.cwdTruncated && !atDeep.cwdUnresolved)
        #expect(atDeep.cwd == deep)  // 70 components: the whole path (PATH_MAX, any depth)
        #expect(!atDeep.filenameTruncated)
    }

    @Test func pidNamespaceIdentityOfAContainerLikeProcess() throws {
        try #require(access("/usr/bin/unshare", X_OK) == 0, "util-linux's unshare is required (setup.sh installs it)")
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("pidns"))
        defer { Host.removeCgroup(cg.path) }
        _ = Host.runShell("echo $$ > \(cg.path)/cgroup.procs; exec /usr/bin/unshare --pid --fork /bin/true pidns")
        let events = Host.collect(sensor) { evs in
            evs.contains { $0.exec?.task.cgroupID == cg.id && $0.exec?.args == ["/bin/true", "pidns"] }
        }
        let inner = try #require(events.compactMap(\.exec).first { $0.task.cgroupID == cg.id && $0.args == ["/bin/true", "pidns"] })
        let outer = try #require(events.compactMap(\.exec).first { $0.task.cgroupID == cg.id && $0.filename.hasSuffix("/unshare") })
        #expect(inner.task.namespacePid == 1)          // first process of the new namespace
        #expect(inner.task.pid != 1)                   // its pid in the initial namespace
        #expect(inner.task.pidNamespaceInode != outer.task.pidNamespaceInode)
        #expect(outer.task.namespacePid == outer.task.pid)
    }

    /// An executable unlinked before its exec (run through its descriptor) and a working directory
    /// removed while in use are flagged deleted; the names they had are kept. Ordinary execs are not.
    @Test func deletedExecutableAndWorkingDirectoryAreMarked() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("deleted"))
        defer { Host.removeCgroup(cg.path) }
        let dir = "/tmp/defend-deleted-\(getpid())"
        defer { _ = Host.runShell("rm -rf \(dir)") }
        let script = "echo $$ > \(cg.path)/cgroup.procs; mkdir -p \(dir)/wd && cp /bin/true \(dir)/gone; "
            + "/bin/true plain a b; (cd \(dir)/wd && rmdir \(dir)/wd && /bin/true cwdgone); "
            + "exec 3<\(dir)/gone; rm \(dir)/gone; /proc/self/fd/3 exegone"
        #expect(Host.runShell(script).status == 0)
        let events = Host.collect(sensor) { evs in
            evs.filter { $0.exec?.task.cgroupID == cg.id && $0.exec?.args.last?.hasSuffix("gone") == true }.count >= 2
        }
        let execs = events.compactMap(\.exec).filter { $0.task.cgroupID == cg.id }
        let plain = try #require(execs.first { $0.args == ["/bin/true", "plain", "a", "b"] })
        #expect(plain.argc == 4 && !plain.argsTruncated)
        #expect(!plain.filenameDeleted && !plain.cwdDeleted)
        let cwdGone = try #require(execs.first { $0.args.last == "cwdgone" })
        #expect(cwdGone.cwdDeleted && !cwdGone.filenameDeleted)
        #expect(cwdGone.cwd == dir + "/wd")
        let exeGone = try #require(execs.first { $0.args.last == "exegone" })
        #expect(exeGone.filenameDeleted && !exeGone.cwdDeleted)
        #expect(exeGone.filename == dir + "/gone")
    }

    @Test func threadsAreNotProcessesAndLongArgvIsTruncated() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("threads"))
        defer { Host.removeCgroup(cg.path) }
        let candidates: [String] = ["/usr/bin/python3", "/usr/bin/python"]
        let python = candidates.first { access($0, X_OK) == 0 }
        let threads = python.map {
            "\($0) -c 'import threading,time; ts=[threading.Thread(target=time.sleep,args=(0.1,)) for _ in range(4)]; "
                + "[t.start() for t in ts]; [t.join() for t in ts]'"
        } ?? ":"
        _ = Host.runShell("echo $$ > \(cg.path)/cgroup.procs; /bin/true $(seq 1 500); \(threads)")
        let events = Host.collect(sensor) { evs in
            evs.contains { $0.exec?.task.cgroupID == cg.id && $0.exec?.filename.hasSuffix("/true") == true }
                && (python == nil || evs.contains { e in
                    guard let x = e.exit, x.task.cgroupID == cg.id else { return false }
                    return x.task.comm.hasPrefix("python")
                })
        }
        let long = try #require(events.compactMap(\.exec).first { $0.task.cgroupID == cg.id && $0.filename.hasSuffix("/true") })
        #expect(long.argc == 501)
        #expect(long.argsTruncated)
        #expect(long.args.first == "/bin/true")
        #expect(long.args.count < 501)
        if python != nil {
            let py = try #require(events.compactMap(\.exec).first { $0.task.cgroupID == cg.id && $0.task.comm.hasPrefix("python") })
            // one fork (the process), no fork per thread; one exit when the whole group is gone
            #expect(events.compactMap(\.fork).filter { $0.child.pid == py.task.pid }.count == 1)
            #expect(events.compactMap(\.exit).filter { $0.task.pid == py.task.pid }.count == 1)
        }
    }

    @Test func fullRingBufferIsCountedAsLoss() throws {
        // one page: smaller than an exec record (9.4 KB), room for ~20 fork records; nothing reads
        // while processes run
        let sensor = try Sensor(configuration: SensorConfiguration(ringBufferBytes: 4096, processTelemetry: true))
        defer { sensor.close() }
        // (other processes on the machine may fill it first: compare with a baseline)
        let before = sensor.lossCounters()
        _ = Host.runShell("for i in $(seq 1 60); do /bin/true; done")
        let losses = sensor.lossCounters()
        #expect(losses.reserveFailures[.exec, default: 0] > before.reserveFailures[.exec, default: 0])
        #expect(losses.reserveFailures[.fork, default: 0] > before.reserveFailures[.fork, default: 0])
        #expect(losses.totalReserveFailures >= losses.reserveFailures[.exec, default: 0])
        // what did fit is still delivered and decodes
        var delivered = 0
        try sensor.poll(timeoutMs: 10) { _ in delivered += 1 }
        #expect(delivered > 0)
        #expect(sensor.lossCounters().decodeErrors == 0)
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
