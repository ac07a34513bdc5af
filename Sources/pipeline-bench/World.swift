import DefendAgent
import DefendEnrich
import DefendEvents
import DefendKubernetes
import DefendPolicy
import Foundation

// A synthetic Kubernetes node, as the kernel sensor's decoder would report it: 1,000 pods of one
// workload container each (8 kinds of application), their cgroups (kubepods.slice -> QoS -> pod ->
// cri-containerd-<id>.scope), containerd's bundles on disk (what the registry reads for the image),
// and the pods as the API server describes them. Processes: containerd-shim (host) -> tini ->
// sh entrypoint -> application -> workers; then jobs: the application runs `sh -c "a | b"` (sh forks
// one or two commands, which exit, then sh exits). Each record carries the decision the kernel would
// have made with the container's masks (same compiled tables, the user-space twin of the BPF side).

let sec: UInt64 = 1_000_000_000

struct AppKind {
    var image: String
    var containerName: String
    var exe: String
    var args: [String]
    var uid: UInt32
    /// Commands of the periodic jobs (each job runs one of these lines with `sh -c`).
    var jobs: [[(exe: String, args: [String])]]
}

let javaArgs = ["java", "-Xms512m", "-Xmx2g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=200", "-Dfile.encoding=UTF-8",
                "-Dspring.profiles.active=production", "-Djava.security.egd=file:/dev/./urandom",
                "-cp", "/app/resources:/app/classes:/app/libs/spring-boot-3.3.4.jar:/app/libs/spring-core-6.1.13.jar:/app/libs/jackson-databind-2.17.2.jar:/app/libs/netty-handler-4.1.113.jar:/app/libs/micrometer-core-1.13.4.jar",
                "com.example.orders.OrdersApplication", "--server.port=8080"]

let appKinds: [AppKind] = [
    AppKind(image: "docker.io/library/nginx:1.27.2", containerName: "web", exe: "/usr/sbin/nginx",
            args: ["nginx", "-g", "daemon off;"], uid: 0,
            jobs: [[("/usr/bin/curl", ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"])],
                   [("/usr/sbin/nginx", ["nginx", "-t", "-q"])]]),
    AppKind(image: "ghcr.io/acme/payments-api:v2.14.1", containerName: "api", exe: "/usr/local/bin/python3.12",
            args: ["python3", "-m", "gunicorn", "payments.wsgi:application", "--workers", "4", "--bind", "0.0.0.0:8000",
                   "--access-logfile", "-", "--timeout", "30"], uid: 1000,
            jobs: [[("/usr/local/bin/python3.12", ["python3", "/app/manage.py", "clearsessions", "--settings=payments.settings.production"])],
                   [("/usr/bin/curl", ["curl", "-fsS", "http://localhost:8000/health/ready"]), ("/bin/grep", ["grep", "-q", "\"status\":\"ok\""])]]),
    AppKind(image: "123456789012.dkr.ecr.us-west-2.amazonaws.com/orders-service:3.8.0-rc.2", containerName: "orders",
            exe: "/opt/java/openjdk/bin/java", args: javaArgs, uid: 1001,
            jobs: [[("/bin/sh", ["/bin/sh", "/app/bin/healthcheck.sh", "--timeout", "5"])],
                   [("/opt/java/openjdk/bin/jcmd", ["jcmd", "1", "GC.heap_info"]), ("/usr/bin/tail", ["tail", "-n", "20"])]]),
    AppKind(image: "docker.io/library/node:20.18-alpine", containerName: "frontend", exe: "/usr/local/bin/node",
            args: ["node", "--max-old-space-size=1536", "/app/dist/server.js"], uid: 1000,
            jobs: [[("/usr/local/bin/node", ["node", "/app/scripts/warm-cache.js", "--routes", "/app/dist/routes.json"])],
                   [("/bin/ls", ["ls", "-la", "/tmp/cache"]), ("/usr/bin/wc", ["wc", "-l"])]]),
    AppKind(image: "docker.io/library/redis:7.4.1", containerName: "redis", exe: "/usr/local/bin/redis-server",
            args: ["redis-server", "*:6379", "--appendonly", "yes", "--maxmemory", "512mb"], uid: 999,
            jobs: [[("/usr/local/bin/redis-cli", ["redis-cli", "-h", "127.0.0.1", "ping"])]]),
    AppKind(image: "quay.io/prometheus/node-exporter:v1.8.2", containerName: "node-exporter", exe: "/bin/node_exporter",
            args: ["/bin/node_exporter", "--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root",
                   "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|var/lib/docker/.+)($|/)"], uid: 65534,
            jobs: [[("/bin/wget", ["wget", "-qO-", "http://127.0.0.1:9100/metrics"]), ("/bin/head", ["head", "-n", "5"])]]),
    AppKind(image: "docker.io/library/postgres:16.4-bookworm", containerName: "postgres",
            exe: "/usr/lib/postgresql/16/bin/postgres", args: ["postgres", "-c", "shared_buffers=256MB", "-c", "max_connections=200"],
            uid: 999,
            jobs: [[("/usr/lib/postgresql/16/bin/pg_isready", ["pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", "5432"])],
                   [("/usr/bin/psql", ["psql", "-U", "postgres", "-tAc", "SELECT count(*) FROM pg_stat_activity"])]]),
    AppKind(image: "cr.fluentbit.io/fluent/fluent-bit:3.1.9", containerName: "fluent-bit", exe: "/fluent-bit/bin/fluent-bit",
            args: ["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf"], uid: 0,
            jobs: [[("/bin/cat", ["cat", "/fluent-bit/etc/parsers.conf"]), ("/bin/grep", ["grep", "-c", "Name"])]]),
]

let namespaces = ["default", "payments", "orders", "frontend", "data", "monitoring", "logging", "batch"]
let owners = ["ReplicaSet", "ReplicaSet", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"]

struct Container {
    var index: Int
    var id: String
    var podUID: String
    var podName: String
    var namespace: String
    var kind: AppKind
    var podCgroup: UInt64
    var cgroup: UInt64
    var podPath: String
    var path: String
    var masks: (file: UInt64, process: UInt64) = (0, 0)
    var context: ContainerContext?
    /// Pid of the application process, its tini (entry), and how many of its processes run.
    var appPid: Int32 = 0
}

func hex(_ x: UInt64, _ width: Int) -> String {
    let s = String(x, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

/// Deterministic 64-bit mixing (splitmix64).
func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9e3779b97f4a7c15
    z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
    z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
    return z ^ (z >> 31)
}

func makeContainers(_ n: Int) -> [Container] {
    (0..<n).map { i in
        let h = UInt64(i)
        let id = hex(mix(h), 16) + hex(mix(h + 1_000_000), 16) + hex(mix(h + 2_000_000), 16) + hex(mix(h + 3_000_000), 16)
        let u = mix(h + 4_000_000)
        let uid = "\(hex(u >> 32, 8))-\(hex((u >> 16) & 0xffff, 4))-4\(hex(u & 0xfff, 3))-8\(hex(mix(u) & 0xfff, 3))-\(hex(mix(u + 1) & 0xffff_ffff_ffff, 12))"
        let kind = appKinds[i % appKinds.count]
        let ns = namespaces[(i / appKinds.count) % namespaces.count]
        let podName = "\(kind.containerName)-\(hex(mix(h + 5_000_000) & 0xffffffff, 8).prefix(9))-\(hex(mix(h + 6_000_000) & 0xfffff, 5))"
        let qos = i % 3 == 0 ? "besteffort" : "burstable"
        let podPath = "/kubepods.slice/kubepods-\(qos).slice/kubepods-\(qos)-pod\(uid.replacingOccurrences(of: "-", with: "_")).slice"
        return Container(index: i, id: id, podUID: uid, podName: podName, namespace: ns, kind: kind,
                         podCgroup: 10_000 + UInt64(i), cgroup: 20_000 + UInt64(i), podPath: podPath,
                         path: podPath + "/cri-containerd-\(id).scope")
    }
}

/// containerd's task bundles as the CRI plugin writes them (only the annotations are read).
func writeBundles(_ containers: [Container], root: String) throws {
    for c in containers {
        let dir = "\(root)/k8s.io/\(c.id)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = """
        {"ociVersion":"1.1.0","process":{"user":{"uid":\(c.kind.uid),"gid":\(c.kind.uid)},"args":\(jsonArray(c.kind.args)),"cwd":"/app"},\
        "root":{"path":"rootfs"},"hostname":"\(c.podName)","annotations":{\
        "io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"\(c.kind.containerName)",\
        "io.kubernetes.cri.image-name":"\(c.kind.image)","io.kubernetes.cri.sandbox-id":"\(hex(mix(UInt64(c.index) + 7_000_000), 16))",\
        "io.kubernetes.cri.sandbox-name":"\(c.podName)","io.kubernetes.cri.sandbox-namespace":"\(c.namespace)",\
        "io.kubernetes.cri.sandbox-uid":"\(c.podUID)"}}
        """
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
    }
}

func jsonArray(_ a: [String]) -> String {
    "[" + a.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        .joined(separator: ",") + "]"
}

func pod(_ c: Container) -> PodMetadata {
    let tier = ["frontend", "backend", "data", "infra"][c.index % 4]
    return PodMetadata(
        uid: c.podUID, name: c.podName, namespace: c.namespace,
        labels: ["app.kubernetes.io/name": c.kind.containerName, "app.kubernetes.io/instance": "\(c.kind.containerName)-\(c.namespace)",
                 "app.kubernetes.io/version": String(c.kind.image.split(separator: ":").last ?? "latest"),
                 "pod-template-hash": hex(mix(UInt64(c.index) + 8_000_000) & 0xffffffffff, 10), "tier": tier,
                 "team": ["checkout", "search", "platform", "growth", "sre"][c.index % 5]],
        annotations: ["kubectl.kubernetes.io/restartedAt": "2026-11-30T08:1\(c.index % 10):00Z",
                      "prometheus.io/scrape": "true", "prometheus.io/port": "\(8000 + c.index % 100)"],
        ip: "10.244.\(c.index / 250).\(c.index % 250 + 2)", ownerKind: owners[c.index % owners.count],
        nodeName: "node-7", containerIDs: [c.id], resourceVersion: "\(100_000 + c.index)")
}

/// The default policy and a 62-selector one (31 file + 31 process selectors, 8 responses per section:
/// the shape of tools/vm/gen-policy64.py with container and Kubernetes conditions on some selectors,
/// and a few selectors that match this workload besides the catch-all ones).
func policy62() -> String {
    let fileOps = ["createExecutable", "modifyExecutable", "createFile", "modifyFile", "deleteFile"]
    var out = ["file:", "  selectors:"]
    for i in 0..<30 {
        let ops = Set([fileOps[i % 5], fileOps[(i * 3 + 1) % 5]]).sorted()
        out += [String(format: "    - name: file%02d", i), "      operation: [\(ops.joined(separator: ", "))]"]
        if i == 3 {
            out += ["      targetFilePath: [/app/cache/**, /tmp/cache/*]"]
        } else {
            out += [String(format: "      targetFilePath: [/srv/app%02d/**, /var/lib/data%02d/*, /etc/conf%02d.yaml]", i, i, i)]
        }
        if i % 5 == 0 { out += ["      containerImageName: [nginx, redis, postgres]"] }
        if i % 7 == 0 { out += ["      kubernetesNamespace: [payments, orders]"] }
        if i % 11 == 0 { out += ["      kubernetesPodLabel: [\"tier:backend\", \"team:sre\"]"] }
    }
    out += ["    - name: driftAnywhere", "      operation: [createExecutable, modifyExecutable]", "  responses:"]
    var names = (0..<30).map { String(format: "file%02d", $0) } + ["driftAnywhere"]
    for r in 0..<8 {
        out += ["    - match: [\(names[min(r * 4, names.count)..<min((r + 1) * 4, names.count)].joined(separator: ", "))]",
                "      actions: [\(r % 2 == 1 ? "alert" : "log")]"]
    }
    out += ["process:", "  selectors:"]
    for i in 0..<30 {
        out += [String(format: "    - name: proc%02d", i), "      operation: [\(i % 2 == 1 ? "exec" : "fork, exec")]"]
        switch i {
        case 4: out += ["      processExecutable: [/usr/bin/curl, /bin/wget, /usr/bin/wget]"]
        case 9: out += ["      processName: [sh, bash, dash]", "      kubernetesPodLabel: [\"tier:frontend\", \"tier:backend\"]"]
        case 16: out += ["      processExecutable: [/usr/lib/postgresql/**]", "      containerImageName: [postgres]"]
        default:
            out += [String(format: "      processExecutable: [/opt/vendor%02d/bin/*, /usr/local/tool%02d/**]", i, i),
                    String(format: "      processName: [tool%02d, helper%02d]", i, i)]
        }
        if i % 6 == 0 { out += ["      kubernetesNamespace: [payments, batch, data]"] }
        if i % 8 == 0 { out += ["      containerImageTag: [\"1.27.2\", \"7.4.1\", latest]"] }
    }
    out += ["    - name: allExecs", "      operation: [exec]", "  responses:"]
    names = (0..<30).map { String(format: "proc%02d", $0) } + ["allExecs"]
    for r in 0..<8 {
        out += ["    - match: [\(names[min(r * 4, names.count)..<min((r + 1) * 4, names.count)].joined(separator: ", "))]",
                "      actions: [\(r == 2 ? "alert, log" : "log")]"]
    }
    return out.joined(separator: "\n") + "\n"
}

/// Makes the records. Keeps its own model of the node's processes (what the kernel knows) and
/// decides each fork/exec/file operation as the kernel would.
struct NodeSimulator {
    struct Proc {
        var task: TaskInfo
        var exe: String
        var container: Int   // -1 = host
    }
    let policy: CompiledPolicy
    var containers: [Container]
    var t: UInt64
    var nextPid: Int32 = 1000
    var nextJobPid: Int32 = 100_000
    var jobs = 0
    var procs: [Int32: Proc] = [:]
    let hostCgroup: UInt64 = 50
    let generation: UInt32 = 1
    /// Records emitted by kind (file records only when the policy decides something, as the kernel).
    var forks = 0, execs = 0, exits = 0, files = 0

    init(policy: CompiledPolicy, containers: [Container], startBootNs: UInt64) {
        self.policy = policy
        self.containers = containers
        t = startBootNs
        // containerd itself (host)
        let containerd = TaskInfo(pid: 812, ppid: 1, pgid: 812, sid: 812, startBootNs: 3 * sec, parentStartBootNs: 0,
                                  capEffective: 0x1ff_ffff_ffff, capPermitted: 0x1ff_ffff_ffff, cgroupID: hostCgroup,
                                  pidNamespaceInode: 4026531836, namespacePid: 812, comm: "containerd")
        procs[812] = Proc(task: containerd, exe: "/usr/bin/containerd", container: -1)
    }

    private mutating func tick(_ ns: UInt64 = 7_000) -> UInt64 { t += ns; return t }

    private func decide(_ op: PolicyOperation, path: String, name: String, container: Int) -> Decision {
        let mask: UInt64
        if container < 0 {
            let m = policy.containerMasks(for: nil)
            mask = op == .fork || op == .exec ? m.process : m.file
        } else {
            mask = op == .fork || op == .exec ? containers[container].masks.process : containers[container].masks.file
        }
        let v = policy.evaluate(operation: op, path: path, processName: name, interactive: false, volume: .none,
                                containerMask: mask)
        return Decision(operation: op, actions: v.actions, selectors: v.selectors, denied: false, generation: generation)
    }

    private mutating func allocPid(job: Bool) -> Int32 {
        if job {
            nextJobPid = nextJobPid >= 4_000_000 ? 100_000 : nextJobPid + 1
            return nextJobPid
        }
        nextPid += 1
        return nextPid
    }

    /// fork of `parent`: the child runs the parent's image with the parent's comm.
    mutating func fork(_ parentPid: Int32, job: Bool = true, newSession: Bool = false, emit: (KernelEvent) -> Void) -> Int32 {
        let parent = procs[parentPid]!
        let pid = allocPid(job: job)
        let now = tick()
        var child = parent.task
        child.pid = pid; child.tid = pid; child.ppid = parentPid
        child.startBootNs = now; child.parentStartBootNs = parent.task.startBootNs
        if parent.container >= 0 { child.namespacePid = Int32(procs.count % 30_000 + 2) }
        if newSession { child.sid = pid; child.pgid = pid }
        procs[pid] = Proc(task: child, exe: parent.exe, container: parent.container)
        forks += 1
        emit(KernelEvent(record: .fork(ForkRecord(child: child)), hook: .sched_process_fork,
                         decision: decide(.fork, path: parent.exe, name: child.comm, container: parent.container),
                         bootTimeNs: now))
        return pid
    }

    mutating func exec(_ pid: Int32, _ exe: String, _ args: [String], cwd: String, emit: (KernelEvent) -> Void) {
        var p = procs[pid]!
        let now = tick()
        p.exe = exe
        p.task.comm = String(exe.split(separator: "/").last ?? "").prefix(15).description
        procs[pid] = p
        execs += 1
        emit(KernelEvent(record: .exec(ExecRecord(task: p.task, filename: exe, cwd: cwd, args: args)), hook: .sched_process_exec,
                         decision: decide(.exec, path: exe, name: p.task.comm, container: p.container), bootTimeNs: now))
    }

    mutating func exit(_ pid: Int32, status: Int32 = 0, emit: (KernelEvent) -> Void) {
        guard let p = procs.removeValue(forKey: pid) else { return }
        exits += 1
        emit(KernelEvent(record: .exit(ExitRecord(task: p.task, exitStatus: status)), hook: .sched_process_exit,
                         bootTimeNs: tick()))
    }

    /// A file operation: a record only when the policy decides something about it (the kernel builds none otherwise).
    mutating func file(_ pid: Int32, _ op: PolicyOperation, _ path: String, hook: HookPoint, mode: UInt32, emit: (KernelEvent) -> Void) {
        let p = procs[pid]!
        let d = decide(op, path: path, name: p.task.comm, container: p.container)
        guard !d.actions.isEmpty else { return }
        files += 1
        emit(KernelEvent(record: .file(FileRecord(task: p.task, path: path, mode: mode, inode: UInt64(pid) &* 31)),
                         hook: hook, decision: d, bootTimeNs: tick()))
    }

    /// Starts container `i`: containerd forks the shim (host), the shim forks tini in the container's
    /// cgroup, tini runs the entrypoint script, which execs the application, which forks `workers`.
    mutating func start(_ i: Int, workers: Int, emit: (KernelEvent) -> Void) {
        let c = containers[i]
        let shim = fork(812, job: false, newSession: true, emit: emit)
        exec(shim, "/usr/bin/containerd-shim-runc-v2",
             ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", String(c.id.prefix(64)), "-address",
              "/run/containerd/containerd.sock"], cwd: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(c.id)", emit: emit)
        // the container's first process: new pid namespace, the container's cgroup and credentials
        let pid = allocPid(job: false)
        let now = tick()
        let shimProc = procs[shim]!
        let caps: UInt64 = c.kind.uid == 0 ? 0xa80425fb : 0
        let tini = TaskInfo(pid: pid, ppid: shim, pgid: pid, sid: pid, uid: c.kind.uid, euid: c.kind.uid, gid: c.kind.uid,
                            egid: c.kind.uid, startBootNs: now, parentStartBootNs: shimProc.task.startBootNs,
                            capEffective: caps, capPermitted: caps, cgroupID: c.cgroup,
                            pidNamespaceInode: 4026532000 + UInt32(i), namespacePid: 1, comm: "containerd-shim")
        procs[pid] = Proc(task: tini, exe: shimProc.exe, container: i)
        forks += 1
        emit(KernelEvent(record: .fork(ForkRecord(child: tini)), hook: .sched_process_fork,
                         decision: decide(.fork, path: shimProc.exe, name: tini.comm, container: i), bootTimeNs: now))
        exec(pid, "/usr/bin/tini", ["/usr/bin/tini", "--", "/docker-entrypoint.sh"] + c.kind.args, cwd: "/app", emit: emit)
        let entry = fork(pid, job: false, emit: emit)
        exec(entry, "/bin/sh", ["/bin/sh", "/docker-entrypoint.sh"] + c.kind.args, cwd: "/app", emit: emit)
        exec(entry, c.kind.exe, c.kind.args, cwd: "/app", emit: emit)  // `exec "$@"`
        containers[i].appPid = entry
        for _ in 0..<workers { _ = fork(entry, job: false, emit: emit) }
    }

    /// One job in container `i`: the application runs `sh -c "<line>"`; sh forks each command of the
    /// line (a pipe when two), they exit, then sh exits. Sometimes a command writes a cache file, and
    /// rarely one makes a file executable (drift).
    mutating func job(_ i: Int, emit: (KernelEvent) -> Void) {
        jobs += 1
        let c = containers[i]
        let line = c.kind.jobs[jobs % c.kind.jobs.count]
        let text = line.map { $0.args.joined(separator: " ") }.joined(separator: " | ")
        let sh = fork(c.appPid, emit: emit)
        exec(sh, "/bin/sh", ["/bin/sh", "-c", text], cwd: "/app", emit: emit)
        var children: [Int32] = []
        for command in line {
            let p = fork(sh, emit: emit)
            exec(p, command.exe, command.args, cwd: "/app", emit: emit)
            children.append(p)
        }
        if jobs % 8 == 0 {
            file(children[0], .modifyFile, "/app/cache/\(c.kind.containerName)-\(jobs % 512).json", hook: .file_open, mode: 0o100644, emit: emit)
        }
        if jobs % 97 == 0 {
            file(children[0], .createExecutable, "/tmp/.cache/update-\(jobs % 64)", hook: .path_chmod, mode: 0o100755, emit: emit)
        }
        for p in children { exit(p, emit: emit) }
        exit(sh, emit: emit)
        t += 40_000  // ~20k jobs/s on the node across its 1,000 containers
    }
}
