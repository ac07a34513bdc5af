import Glibc
import DefendEvents
import DefendEnrich
import DefendECS

// Records -> enriched ECS NDJSON on one core, and resident memory of the process table.
// Single-threaded (tools/bench-enrich pins it to one CPU with taskset). Prints figures; targets: >= 500,000 events/s, <= 30 MB for 10,000 live processes.

func rssKB() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmRSS:") { return Int(s.split(separator: " ").dropFirst().first ?? "0") ?? 0 }
    }
    return 0
}

/// Thread CPU time: the figure that matters for "events/s on one core" even when other jobs share the CPUs.
func cpuNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

let agentID = "7829f26d-c2d1-4eaf-a1ac-cd9cb9e12f75"
let clock = BootClock.system()
let sec: UInt64 = 1_000_000_000

func task(_ pid: Int32, ppid: Int32, start: UInt64, sid: Int32, cgroup: UInt64, comm: String) -> TaskInfo {
    TaskInfo(pid: pid, ppid: ppid, pgid: pid, sid: sid, uid: 1000, euid: 1000, gid: 1000, egid: 1000,
             ttyMajor: 136, ttyMinor: 1, startBootNs: start, cgroupID: cgroup, comm: comm)
}

/// A container shell (sh under containerd-shim) that runs short commands: per command fork (log),
/// exec with args (log), two file events (write-open logged, executable creation alerted), exit.
func makeEvents(count: Int) -> [KernelEvent] {
    var events: [KernelEvent] = []
    events.reserveCapacity(count + 8)
    let shim = task(900, ppid: 1, start: 10 * sec, sid: 900, cgroup: 0, comm: "containerd-shim")
    events.append(KernelEvent(record: .fork(ForkRecord(child: shim)), hook: .sched_process_fork, bootTimeNs: 10 * sec))
    events.append(KernelEvent(record: .exec(ExecRecord(task: shim, filename: "/usr/bin/containerd-shim-runc-v2", cwd: "/run",
                                                       args: ["containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc"])),
                              hook: .sched_process_exec, bootTimeNs: 10 * sec))
    let shell = task(1000, ppid: 900, start: 11 * sec, sid: 1000, cgroup: 4242, comm: "sh")
    events.append(KernelEvent(record: .fork(ForkRecord(child: shell)), hook: .sched_process_fork, bootTimeNs: 11 * sec))
    events.append(KernelEvent(record: .exec(ExecRecord(task: shell, filename: "/bin/sh", cwd: "/app", args: ["/bin/sh", "-c", "run.sh"])),
                              hook: .sched_process_exec, bootTimeNs: 11 * sec))
    let commands: [(String, [String])] = [
        ("/usr/bin/curl", ["curl", "-fsS", "-o", "/tmp/payload.tar.gz", "https://example.com/releases/v1.2.3/payload.tar.gz"]),
        ("/bin/tar", ["tar", "-xzf", "/tmp/payload.tar.gz", "-C", "/opt/app"]),
        ("/usr/local/bin/python3", ["python3", "-m", "app.worker", "--queue", "jobs", "--concurrency=4"]),
        ("/bin/ls", ["ls", "--color=auto", "-la", "/var/log"]),
    ]
    var pid: Int32 = 2000
    var t = 12 * sec
    while events.count < count {
        let (exe, args) = commands[Int(pid) % commands.count]
        let child = task(pid, ppid: 1000, start: t, sid: 1000, cgroup: 4242, comm: "sh")
        events.append(KernelEvent(record: .fork(ForkRecord(child: child)), hook: .sched_process_fork,
                                  decision: Decision(operation: .fork, actions: .log, selectors: 1), bootTimeNs: t))
        events.append(KernelEvent(record: .exec(ExecRecord(task: child, filename: exe, cwd: "/app", args: args)),
                                  hook: .sched_process_exec,
                                  decision: Decision(operation: .exec, actions: .log, selectors: 1), bootTimeNs: t + 50_000))
        events.append(KernelEvent(record: .file(FileRecord(task: child, path: "/app/data/output-\(pid % 100).json", mode: 0o644)),
                                  hook: .file_open,
                                  decision: Decision(operation: .modifyFile, actions: .log, selectors: 2), bootTimeNs: t + 100_000))
        events.append(KernelEvent(record: .file(FileRecord(task: child, path: "/opt/app/bin/tool", mode: 0o755)),
                                  hook: .path_chmod,
                                  decision: Decision(operation: .createExecutable, actions: .alert, selectors: 4), bootTimeNs: t + 150_000))
        events.append(KernelEvent(record: .exit(ExitRecord(task: child, exitStatus: 0)), hook: .sched_process_exit,
                                  bootTimeNs: t + 200_000))
        pid = pid >= 4_000_000 ? 2000 : pid + 1
        t += 250_000
    }
    return events
}

func throughput() {
    let host = HostMetadata.collect()
    let registry = ContainerRegistry(locator: BundleLocator(containerdRoots: [], crioRoots: [], dockerRoots: []))
    registry.note(cgroupID: 4242, path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/cri-containerd-0b5d5f2c8e1a4c7b9d3e6f8a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c.scope")
    let table = ProcessTable(agentID: agentID, clock: clock)
    var builder = DocumentBuilder(agent: AgentMetadata(id: agentID, version: "0.1.0"), host: host,
                                  cloud: CloudMetadata(provider: "aws", accountID: "123456789012", availabilityZone: "us-west-2b",
                                                       instanceID: "i-1234567890abcdef0", region: "us-west-2"),
                                  clock: clock, config: DocumentConfig(packagePolicyID: "4c9cbba0-c812-11ed-a8dd-91ec403e4f03",
                                                                       packagePolicyRevision: 2))
    let n = CommandLine.arguments.firstIndex(of: "--events").flatMap { i in
        i + 1 < CommandLine.arguments.count ? Int(CommandLine.arguments[i + 1]) : nil } ?? 1_000_000
    let events = makeEvents(count: n)
    let selectors = [["allProcesses"], ["fileWrites"], ["executableChanges"]]
    var docs = 0
    var bytes = 0
    var checksum: UInt8 = 0
    // warm-up pass on a separate table so the measured one starts empty
    // round 0 warms up; rounds 1-3 are measured on fresh tables and the best (least CPU) is reported,
    // since other jobs on the machine only ever make a round slower
    var best = Double.infinity
    var bestWall = 0.0
    for round in 0..<4 {
        let t = round == 3 ? table : ProcessTable(agentID: agentID, clock: clock)
        docs = 0; bytes = 0; checksum = 0
        let start = nowNs()
        let cpuStart = cpuNs()
        for i in events.indices {
            let view = t.apply(events[i])
            let container = registry.context(forCgroupID: 4242)
            // the sink gets the bytes in place (what a file/stdout sink needs)
            docs += builder.withDocuments(event: events[i], process: view, container: container,
                                          matchedSelectors: selectors[Int(events[i].decision.selectors.trailingZeroBitCount % 3)]) { lines, _ in
                bytes += lines.count
                checksum &+= lines.last ?? 0
            }
        }
        let cpu = Double(cpuNs() - cpuStart) / 1e9
        let wall = Double(nowNs() - start) / 1e9
        if round > 0, cpu < best { best = cpu; bestWall = wall }
        let elapsed = best
        if round == 3 {
            print(String(format: "  (best of 3 rounds: CPU time %.2f s, wall %.2f s; figures use CPU time of the one thread)", best, bestWall))
            print("throughput: \(n) records (fork/exec/file/file/exit per process) -> \(docs) documents, \(bytes / max(docs, 1)) bytes/doc")
            print(String(format: "  %.0f events/s, %.0f documents/s, %.1f MB/s NDJSON, %.2f us/event  (target >= 500000 events/s: %@)",
                         Double(n) / elapsed, Double(docs) / elapsed, Double(bytes) / elapsed / 1e6, elapsed * 1e6 / Double(n),
                         Double(n) / elapsed >= 500_000 ? "met" : "NOT met"))
            precondition(checksum == UInt8(truncatingIfNeeded: docs * 10), "every document ends in a newline")
            print("  table after run: \(t.count) entries (\(t.endedCount) ended awaiting reap)")
        }
    }
    // document builder alone, on views prepared beforehand (50,000 events, 20 passes)
    let sampleCount = min(50_000, events.count)
    let t3 = ProcessTable(agentID: agentID, clock: clock)
    let views = events.prefix(sampleCount).map { t3.apply($0) }
    let context = registry.context(forCgroupID: 4242)
    var builderBytes = 0
    let s3 = cpuNs()
    for _ in 0..<20 {
        for i in 0..<sampleCount {
            builder.withDocuments(event: events[i], process: views[i], container: context,
                                  matchedSelectors: selectors[0]) { lines, _ in builderBytes &+= lines.count }
        }
    }
    let e3 = Double(cpuNs() - s3) / 1e9
    print(String(format: "  document builder alone: %.0f events/s (%.2f us/event)", Double(20 * sampleCount) / e3,
                 e3 * 1e6 / Double(20 * sampleCount)))
    // table only
    let t2 = ProcessTable(agentID: agentID, clock: clock)
    let s2 = cpuNs()
    for i in events.indices { _ = t2.apply(events[i]) }
    let e2 = Double(cpuNs() - s2) / 1e9
    print(String(format: "  process table alone: %.0f events/s (%.2f us/event)", Double(n) / e2, e2 * 1e6 / Double(n)))
}

func memory() {
    let live = 10_000
    let before = rssKB()
    let table = ProcessTable(agentID: agentID, clock: clock)
    let root = task(1000, ppid: 1, start: 1 * sec, sid: 1000, cgroup: 7, comm: "sh")
    table.apply(KernelEvent(record: .exec(ExecRecord(task: root, filename: "/bin/sh", cwd: "/", args: ["sh"])),
                            hook: .sched_process_exec, bootTimeNs: 1 * sec))
    for i in 0..<live {
        let t = task(Int32(10_000 + i), ppid: 1000, start: UInt64(2 + i) * sec, sid: 1000, cgroup: 7, comm: "worker")
        table.apply(KernelEvent(record: .fork(ForkRecord(child: t)), hook: .sched_process_fork, bootTimeNs: t.startBootNs))
        table.apply(KernelEvent(record: .exec(ExecRecord(task: t, filename: "/usr/local/bin/worker-\(i % 50)", cwd: "/srv/app/instance-\(i)",
                                                         args: ["worker-\(i % 50)", "--id=\(i)", "--config=/etc/worker/config-\(i % 7).yaml", "--verbose"])),
                                hook: .sched_process_exec, bootTimeNs: t.startBootNs + 1000))
    }
    let after = rssKB()
    print("memory: \(table.count) live processes tracked, RSS delta \(String(format: "%.1f", Double(after - before) / 1024)) MB "
          + "(\((after - before) * 1024 / live) bytes/process; target <= 30 MB: \((after - before) <= 30 * 1024 ? "met" : "NOT met"))")
    withExtendedLifetime(table) {}
}

if CommandLine.arguments.contains("--sample") {
    var b = DocumentBuilder(agent: AgentMetadata(id: agentID, version: "0.1.0"), host: HostMetadata.collect(), cloud: nil, clock: clock)
    let t = ProcessTable(agentID: agentID, clock: clock)
    var buf: [UInt8] = []
    for e in makeEvents(count: 9) { buf.removeAll(); _ = b.write(event: e, process: t.apply(e), container: ContainerContext(id: "abc", imageName: "nginx", imageTag: "1.25"), matchedSelectors: ["s"], into: &buf); print(String(decoding: buf, as: UTF8.self), terminator: "") }
} else if CommandLine.arguments.contains("--throughput-only") {
    throughput()
} else {
    print("layout: ProcessEntry \(MemoryLayout<ProcessEntry>.size) B, ProcessView \(MemoryLayout<ProcessView>.size) B, KernelEvent \(MemoryLayout<KernelEvent>.size) B")
    memory()   // first, so the throughput run's heap does not hide the delta
    throughput()
}
