// pipeline-bench: kernel records -> documents through the agent's real EventPipeline (process table,
// ContainerState, DocumentBuilder, policy generations, the sink), on a synthetic node of 1,000 pods.
//   pipeline-bench run SINK POLICY N [PORT]   N measured records; SINK = null | console | file | es
//                                            (es: a no-op _bulk endpoint on PORT, `es-bench serve PORT`);
//                                            POLICY = default | 62
//   pipeline-bench memory                    RSS with 10,000 live processes, 1,000 containers, 1,000 pods
//   pipeline-bench sample POLICY             a few documents, to look at
// tools/bench-pipeline runs it pinned to one core. Prints figures next to their targets; asserts nothing.
import DefendAgent
import DefendECS
import DefendEnrich
import DefendEvents
import DefendKubernetes
import DefendOutput
import DefendPolicy
import Foundation

let rssAtStart = rssKB()

// MARK: measures

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

/// (RssAnon, RssFile) in kB: the heap and stacks, and the mapped code of the binary and its libraries.
func rssSplitKB() -> (anon: Int, file: Int) {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func field(_ name: String) -> Int {
        let line = status.split(separator: "\n").first { $0.hasPrefix(name) } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    return (field("RssAnon:"), field("RssFile:"))
}

func mb(_ kb: Int) -> String { fmt(Double(kb) / 1024, 1) }

/// CPU of the whole process (every thread: pipeline, output, event loops), user + system.
func processCPU() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

func threadCPU() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func wallNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Figures go to the original standard output (the console sink writes documents to fd 1, sent to /dev/null).
nonisolated(unsafe) var reportFD: Int32 = STDOUT_FILENO
func say(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(reportFD, $0, strlen($0)) }
}

func fmt(_ x: Double, _ decimals: Int = 0) -> String { String(format: "%.\(decimals)f", x) }
func grouped(_ x: Double) -> String {
    let n = Int(x.rounded())
    var s = String(n), out = ""
    while s.count > 3 { out = "," + s.suffix(3) + out; s = String(s.dropLast(3)) }
    return s + out
}

@_silgen_name("malloc_trim") func mallocTrim(_ pad: Int) -> Int32

// MARK: sinks

/// The pipeline alone: takes the bytes, keeps nothing (baseline for the real sinks).
final class NullSink: DocumentSink {
    var documents: UInt64 = 0, bytes: UInt64 = 0
    func append(_ lines: UnsafeRawBufferPointer, spans: UnsafeBufferPointer<DocumentSpan>) {
        documents &+= UInt64(spans.count); bytes &+= UInt64(lines.count)
    }
    func flush() {}
    func close() {}
    var statistics: SinkStatistics {
        var s = SinkStatistics(); s.documentsWritten = documents; s.bytesWritten = bytes; return s
    }
}

let quiet: OutputLogger = { level, message in
    if level != .info { FileHandle.standardError.write(Data("pipeline-bench: \(message)\n".utf8)) }
}

func makeSink(_ kind: String, port: Int, queueDir: String) throws -> DocumentSink {
    switch kind {
    case "null": return NullSink()
    case "file": return OutputThread(output: try NDJSONFileOutput(path: "/dev/null", log: quiet))
    case "console":
        // Standard output is the console sink's; the figures go to a copy of the original.
        reportFD = dup(STDOUT_FILENO)
        let null = open("/dev/null", O_WRONLY)
        dup2(null, STDOUT_FILENO)
        close(null)
        return OutputThread(output: try NDJSONFileOutput(path: nil, log: quiet))
    case "es":
        var settings = ElasticsearchSettings()   // the agent's defaults (gzip 1, 1,600 docs or 5 MiB per bulk)
        settings.hosts = ["http://127.0.0.1:\(port)"]
        var q = QueueSettings(path: queueDir)
        q.maxSize = 16 << 30
        return OutputThread(output: try ElasticsearchOutput(settings: settings, queue: q, namespace: "default", log: quiet))
    default:
        say("unknown sink \(kind) (null | console | file | es)"); exit(2)
    }
}

// MARK: the node

let agentID = "7829f26d-c2d1-4eaf-a1ac-cd9cb9e12f75"
let containerCount = 1_000

struct Node {
    var harness: PipelineBenchmarkHarness
    var simulator: NodeSimulator
    var pods: [PodMetadata]
    var bundleRoot: String
}

func compiled(_ name: String) -> CompiledPolicy {
    do {
        let policy: Policy
        if name == "62" {
            policy = try PolicyLoader.parse(yaml: policy62(), fileName: "policy62.yaml").policy
        } else {
            policy = try DefaultPolicy.load()
        }
        return CompiledPolicy(policy, scope: .containers)  // the DaemonSet's scope
    } catch {
        say("policy \(name): \(error)"); exit(2)
    }
}

/// Builds the node's state through the agent's own paths: the policy installed, the cluster id and the
/// 1,000 pods from the watcher, the cgroup mkdir records (each container described from its bundle),
/// then every container started (shim, tini, entrypoint, application and `workers` forked workers).
func makeNode(policy: CompiledPolicy, sink: DocumentSink, workers: Int) throws -> Node {
    let bundleRoot = NSTemporaryDirectory() + "pipeline-bench-\(getpid())"
    var containers = makeContainers(containerCount)
    try writeBundles(containers, root: bundleRoot + "/io.containerd.runtime.v2.task")
    let registry = ContainerRegistry(locator: BundleLocator(containerdRoots: [bundleRoot + "/io.containerd.runtime.v2.task"],
                                                            crioRoots: [], dockerRoots: []),
                                     cgroupRoot: bundleRoot + "/no-cgroupfs", clusterName: "prod-eu-1")
    registry.podsExpected = true
    let clock = BootClock.system()
    let host = HostMetadata(name: "node-7", hostname: "node-7.prod-eu-1.internal", id: "5f3c1b2a9d8e4f60a1b2c3d4e5f60718",
                            ip: ["10.0.12.7", "fe80::a00:27ff:fe4e:66a1"], mac: ["02:42:ac:11:00:02"], architecture: "x86_64",
                            bootID: "0c7e5a1f-3b9d-4f2e-8a6c-1d2e3f4a5b6c", pidNamespaceInode: 4026531836,
                            os: OSMetadata(family: "debian", full: "Debian GNU/Linux 13 (trixie)", kernel: "6.12.48+deb13-amd64",
                                           name: "Debian GNU/Linux", platform: "debian", type: "linux", version: "13 (trixie)"))
    let documents = DocumentBuilder(agent: AgentMetadata(id: agentID, version: defendVersion), host: host,
                                    cloud: CloudMetadata(provider: "aws", accountID: "123456789012", availabilityZone: "eu-west-1b",
                                                         instanceID: "i-0a1b2c3d4e5f60718", instanceName: nil,
                                                         machineType: "m6i.2xlarge", region: "eu-west-1"),
                                    clock: clock, config: DocumentConfig(packagePolicyID: "4c9cbba0-c812-11ed-a8dd-91ec403e4f03",
                                                                         packagePolicyRevision: 2))
    let processes = ProcessTable(agentID: agentID, clock: clock)
    let harness = try PipelineBenchmarkHarness(policy: policy, registry: registry, processes: processes,
                                               documents: documents, sink: sink)
    harness.apply(.clusterID("a3f1c9e2-7b4d-4e8a-9c6f-2d1e0b5a8c7f"))
    let pods = containers.map(pod)
    for p in pods { harness.apply(.pod(p)) }
    harness.apply(.podsSynced)
    var bootNs = BootClock.nowBootNs()
    func created(_ id: UInt64, _ path: String) {
        bootNs += 1_000
        harness.pipeline.handle(KernelEvent(record: .cgroup(CgroupRecord(cgroupID: id, level: UInt32(path.split(separator: "/").count),
                                                                         path: path, created: true)),
                                            hook: .cgroup_mkdir, bootTimeNs: bootNs))
    }
    created(49, "/system.slice")
    created(50, "/system.slice/containerd.service")
    created(100, "/kubepods.slice")
    created(101, "/kubepods.slice/kubepods-burstable.slice")
    created(102, "/kubepods.slice/kubepods-besteffort.slice")
    for c in containers {
        created(c.podCgroup, c.podPath)
        created(c.cgroup, c.path)
    }
    for i in containers.indices {
        containers[i].context = registry.context(forContainerID: containers[i].id)
        containers[i].masks = policy.containerMasks(for: containers[i].context)
    }
    // Records are later than the masks (the start window of each container has passed).
    var simulator = NodeSimulator(policy: policy, containers: containers, startBootNs: BootClock.nowBootNs() + sec)
    for i in containers.indices { simulator.start(i, workers: workers) { harness.pipeline.handle($0) } }
    sink.flush()
    return Node(harness: harness, simulator: simulator, pods: pods, bundleRoot: bundleRoot)
}

/// Jobs spread over the containers (consecutive records rarely share a container).
func jobContainer(_ k: Int) -> Int { (k &* 7919) % containerCount }

// MARK: run

func run(sinkKind: String, policyName: String, records: Int, port: Int) throws {
    let queueDir = NSTemporaryDirectory() + "pipeline-bench-queue-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: queueDir) }
    let sink = try makeSink(sinkKind, port: port, queueDir: queueDir)
    let policy = compiled(policyName)
    var node = try makeNode(policy: policy, sink: sink, workers: 2)
    defer { try? FileManager.default.removeItem(atPath: node.bundleRoot) }
    let pipeline = node.harness.pipeline

    // Warm-up (not measured), then the measured records, made beforehand.
    var warm: [KernelEvent] = []
    var k = 0
    while warm.count < 50_000 { node.simulator.job(jobContainer(k)) { warm.append($0) }; k += 1 }
    for e in warm { pipeline.handle(e) }
    warm = []
    let before = node.simulator
    var events: [KernelEvent] = []
    events.reserveCapacity(records + 64)
    while events.count < records { node.simulator.job(jobContainer(k)) { events.append($0) }; k += 1 }
    let execs = node.simulator.execs - before.execs
    let forks = node.simulator.forks - before.forks, exits = node.simulator.exits - before.exits
    let files = node.simulator.files - before.files
    let jobs = node.simulator.jobs - before.jobs
    if sinkKind != "null" { waitDelivered(sink, pipeline.statistics.documents) }

    let docs0 = pipeline.statistics.documents
    let delivered0 = sink.statistics.documentsWritten, dropped0 = sink.statistics.documentsDropped
    let bytes0 = sink.statistics.bytesWritten
    let handoff = sink as? OutputThread
    var waits = 0
    let cpu0 = processCPU(), thread0 = threadCPU(), wall0 = wallNow()
    for i in events.indices {
        pipeline.handle(events[i])
        if i & 1023 == 1023, let handoff {
            // A producer faster than its output meets the hand-off's bound (the agent drops logs
            // there, counted); the throughput figure wants none dropped, so it yields the core instead.
            while handoff.pendingBytes > handoff.capacityBytes / 2 { usleep(200); waits += 1 }
        }
    }
    sink.flush()
    let produced = pipeline.statistics.documents - docs0
    let threadSeconds = threadCPU() - thread0
    if sinkKind != "null" { waitDelivered(sink, docs0 + produced) }
    let wall = wallNow() - wall0, cpu = processCPU() - cpu0
    let s = sink.statistics
    let delivered = s.documentsWritten - delivered0, dropped = s.documentsDropped - dropped0
    let bytes = sinkKind == "es" ? 0 : s.bytesWritten - bytes0
    sink.close()

    let target = 1_000_000.0
    let perCPU = Double(delivered) / cpu, perWall = Double(delivered) / wall
    say("  \(sinkKind) sink, \(policyName == "62" ? "62-selector" : "default") policy: \(records) records (\(forks) fork, \(execs) exec, "
        + "\(exits) exit, \(files) file; \(jobs) jobs over \(containerCount) containers) -> \(produced) documents"
        + (bytes > 0 ? ", \(bytes / max(delivered, 1)) bytes each" : "") + "; delivered \(delivered), dropped \(dropped)")
    say("    \(grouped(perCPU)) documents/s per CPU-second of the whole agent (\(fmt(cpu, 2)) s; wall \(fmt(wall, 2)) s = \(grouped(perWall))/s)"
        + "  target >= 1,000,000/s on one core: \(perCPU >= target ? "met" : "NOT met") (x\(fmt(perCPU / target, 2)))")
    say("    agent CPU per 1,000 execs: \(fmt(cpu / Double(execs) * 1e6, 1)) ms (\(fmt(cpu / Double(produced) * 1e6, 2)) us/document); "
        + "pipeline thread \(fmt(threadSeconds / Double(produced) * 1e6, 2)) us/document, "
        + "\(fmt(Double(records) / threadSeconds / 1e6, 2)) M records/s"
        + (waits > 0 ? "; producer waited \(waits) x 200 us on the hand-off" : ""))
}

func waitDelivered(_ sink: DocumentSink, _ documents: UInt64) {
    sink.flush()
    let deadline = wallNow() + 600
    while sink.statistics.documentsWritten + sink.statistics.documentsDropped < documents, wallNow() < deadline { usleep(500) }
}

// MARK: memory

func memory() throws {
    let start = rssSplitKB()
    say("  RSS at start (Swift runtime, Foundation, the binary; nothing built yet): \(mb(rssAtStart)) MB "
        + "(code and data of the binary and libraries \(mb(start.file)) MB, heap \(mb(start.anon)) MB)")
    let sink = try makeSink("file", port: 0, queueDir: "")
    // 1,000 containers x (shim on the host, tini, entrypoint/application, 7 workers) = 10,000 live processes.
    var node = try makeNode(policy: compiled("default"), sink: sink, workers: 7)
    try? FileManager.default.removeItem(atPath: node.bundleRoot)
    let pipeline = node.harness.pipeline
    let built = rssSplitKB()
    // Some work done (100,000 jobs: ~900,000 records), then the ended processes reaped after their grace.
    for k in 0..<100_000 { node.simulator.job(jobContainer(k)) { pipeline.handle($0) } }
    waitDelivered(sink, pipeline.statistics.documents)
    pipeline.processes.reap(nowBootNs: node.simulator.t + 60 * sec)
    // The Kubernetes watcher's cache of this node's pods (the agent keeps it next to the registry's).
    let watcherCache = Dictionary(uniqueKeysWithValues: node.pods.map { ($0.uid, $0) })
    // What only the benchmark holds (its model of the node) goes before the measure.
    let documents = pipeline.statistics.documents
    node.pods = []
    node.simulator = NodeSimulator(policy: node.harness.policy, containers: [], startBootNs: 0)
    let rss = rssKB(), split = rssSplitKB()
    let reg = node.harness.registry
    say("  state: \(pipeline.processes.count) live processes (\(pipeline.processes.endedCount) ended awaiting reap), "
        + "\(node.harness.containerCount) containers in the kernel's map, \(reg.containerCount) described, \(reg.podCount) pods cached "
        + "(+ \(watcherCache.count) in the watcher's cache), \(documents) documents written on the way")
    let target = 20.0 * 1024
    say("  RSS \(mb(rss)) MB  target <= 20 MB: \(Double(rss) <= target ? "met" : "NOT met") (x\(fmt(Double(rss) / target, 2))); "
        + "code \(mb(split.file)) MB + heap \(mb(split.anon)) MB; heap above the start: \(mb(split.anon - start.anon)) MB "
        + "(\(mb(built.anon - start.anon)) MB once the state was built, before the 100,000 jobs)")
    _ = mallocTrim(0)
    let trimmed = rssSplitKB()
    say("  after malloc_trim(0): RSS \(mb(trimmed.anon + trimmed.file)) MB, heap \(mb(trimmed.anon)) MB")
    withExtendedLifetime(watcherCache) {}
    sink.close()
}

// MARK: sample

func sample(policyName: String) throws {
    final class Capture: DocumentSink {
        var lines: [UInt8] = []
        func append(_ l: UnsafeRawBufferPointer, spans: UnsafeBufferPointer<DocumentSpan>) { lines += l }
        func flush() {}
        func close() {}
        var statistics: SinkStatistics { SinkStatistics() }
    }
    let capture = Capture()
    var node = try makeNode(policy: compiled(policyName), sink: capture, workers: 0)
    defer { try? FileManager.default.removeItem(atPath: node.bundleRoot) }
    capture.lines = []
    let pipeline = node.harness.pipeline
    for k in 0..<2 { node.simulator.job(jobContainer(k)) { pipeline.handle($0) } }
    say(String(decoding: capture.lines, as: UTF8.self))
}

let args = CommandLine.arguments
do {
    switch args.dropFirst().first {
    case "run":
        guard args.count >= 5, let n = Int(args[4]) else { say("usage: pipeline-bench run SINK POLICY N [PORT]"); exit(2) }
        try run(sinkKind: args[2], policyName: args[3], records: n, port: args.count > 5 ? Int(args[5]) ?? 19288 : 19288)
    case "memory": try memory()
    case "sample": try sample(policyName: args.count > 2 ? args[2] : "default")
    default:
        say("usage: pipeline-bench run SINK POLICY N [PORT] | memory | sample [POLICY]"); exit(2)
    }
} catch {
    say("pipeline-bench: \(error)"); exit(1)
}
