import Testing
import Foundation
import DefendEvents
import DefendEnrich
@testable import DefendECS

private let sec: UInt64 = 1_000_000_000
/// Boot at 2023-03-20T16:00:00Z.
private let bootEpoch: Int64 = 1_679_328_000 * 1_000_000_000
private let agentID = "7829f26d-c2d1-4eaf-a1ac-cd9cb9e12f75"

private func task(_ pid: Int32, ppid: Int32, start: UInt64, pgid: Int32? = nil, sid: Int32? = nil, comm: String,
                  tty: UInt32 = 0, uid: UInt32 = 0) -> TaskInfo {
    TaskInfo(pid: pid, ppid: ppid, pgid: pgid ?? pid, sid: sid ?? pid, uid: uid, euid: uid, gid: uid, egid: uid,
             ttyMajor: tty, ttyMinor: tty == 0 ? 0 : 2, startBootNs: start, cgroupID: 77, comm: comm)
}

/// containerd-shim(900) -> bash(1000, session leader on pts) -> ls(1001)
private struct Scenario {
    let table = ProcessTable(agentID: agentID, clock: BootClock(bootEpochNs: bootEpoch))
    var builder: DocumentBuilder
    let container = ContainerContext(id: "nginx_1", imageName: "nginx", imageFullName: "docker.io/library/nginx",
                                     imageTag: "latest",
                                     kubernetes: KubernetesContext(clusterID: "12345", clusterName: "website",
                                                                   namespace: "default", podName: "webapp-proxy",
                                                                   podLabels: ["service": "webapp"],
                                                                   podAnnotations: ["note": "testing"],
                                                                   podIP: "172.18.0.6", ownerKind: "ReplicaSet"))
    let bash = task(1000, ppid: 900, start: 200 * sec, comm: "bash", tty: 136)
    let ls = task(1001, ppid: 1000, start: 239 * sec + 520_000_000, sid: 1000, comm: "bash", tty: 136)

    init(namespace: String = "default") {
        let host = HostMetadata(name: "kibana-node.myapp.co", hostname: "kibana-node", id: "1bb9e6a948dfb1c3cd38d1fdc8de4481",
                                ip: ["127.0.0.1", "172.20.0.2"], mac: ["32:a9:cc:26:4c:e5"], architecture: "amd64",
                                bootID: "815a760f-8153-49e1-9d0b-da0d3b2a468c", pidNamespaceInode: 4026531836,
                                os: OSMetadata(family: "ubuntu", full: "Ubuntu 20.04.5", kernel: "5.10.161+ #1 SMP",
                                               name: "Linux", platform: "ubuntu", type: "linux", version: "20.04.5"))
        let cloud = CloudMetadata(provider: "aws", accountID: "1234567abc", availabilityZone: "us-east-1c",
                                  instanceID: "i-1", region: "us-east-1")
        builder = DocumentBuilder(agent: AgentMetadata(id: agentID, version: "8.8.0"), host: host, cloud: cloud,
                                  clock: BootClock(bootEpochNs: bootEpoch),
                                  config: DocumentConfig(namespace: namespace, packagePolicyID: "4c9cbba0", packagePolicyRevision: 2),
                                  nowUnixNs: { bootEpoch + 300 * 1_000_000_000 }, idGenerator: EventIDGenerator(seed: 1))
        let shim = task(900, ppid: 1, start: 100 * sec, comm: "containerd-shim")
        table.apply(KernelEvent(record: .fork(ForkRecord(child: shim)), hook: .sched_process_fork, bootTimeNs: 100 * sec))
        table.apply(KernelEvent(record: .exec(ExecRecord(task: shim.execing("/usr/bin/containerd-shim-runc-v2"), filename: "/usr/bin/containerd-shim-runc-v2", cwd: "/", args: ["containerd-shim-runc-v2"])), hook: .sched_process_exec, bootTimeNs: 100 * sec))
        table.apply(KernelEvent(record: .fork(ForkRecord(child: bash)), hook: .sched_process_fork, bootTimeNs: 200 * sec))
        table.apply(KernelEvent(record: .exec(ExecRecord(task: bash.execing("/bin/bash"), filename: "/bin/bash", cwd: "/usr/share/elastic-agent", args: ["bash"])), hook: .sched_process_exec, bootTimeNs: 200 * sec))
    }

    mutating func documents(_ event: KernelEvent, selectors: [String] = ["sel"], container: ContainerContext?? = nil) throws -> [[String: Any]] {
        let view = table.apply(event)
        var buf: [UInt8] = []
        let n = builder.write(event: event, process: view, container: container ?? self.container,
                              matchedSelectors: selectors, into: &buf)
        let lines = buf.split(separator: 0x0a)
        #expect(lines.count == n)
        #expect(buf.last == 0x0a || n == 0)
        return try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]) }
    }
}

private func get(_ doc: [String: Any], _ path: String) -> Any? {
    var cur: Any? = doc
    for part in path.split(separator: ".") {
        guard let d = cur as? [String: Any] else { return nil }
        cur = d[String(part)]
    }
    return cur
}
private func str(_ d: [String: Any], _ p: String) -> String? { get(d, p) as? String }
private func strs(_ d: [String: Any], _ p: String) -> [String]? { get(d, p) as? [String] }
private func int(_ d: [String: Any], _ p: String) -> Int? { (get(d, p) as? NSNumber)?.intValue }
private func bool(_ d: [String: Any], _ p: String) -> Bool? {
    guard let n = get(d, p) as? NSNumber, String(cString: n.objCType) == "c" else { return nil }
    return n.boolValue
}

/// Fields every document carries, per the spec tables.
private func expectCommon(_ d: [String: Any], dataset: String, kind: String, namespace: String = "default") {
    #expect(str(d, "agent.id") == agentID)
    #expect(str(d, "agent.type") == "cloud-defend")
    #expect(str(d, "agent.version") == "8.8.0")
    #expect(str(d, "cloud.provider") == "aws")
    #expect(str(d, "cloud.account.id") == "1234567abc")
    #expect(str(d, "cloud.availability_zone") == "us-east-1c")
    #expect(str(d, "cloud.region") == "us-east-1")
    #expect(str(d, "cloud_defend.package_policy_id") == "4c9cbba0")
    #expect(int(d, "cloud_defend.package_policy_revision") == 2)
    #expect(strs(d, "cloud_defend.matched_selectors") == ["sel"])
    #expect(str(d, "container.id") == "nginx_1")
    #expect(str(d, "container.image.name") == "nginx")
    #expect(str(d, "container.image.tag") == "latest")
    #expect(str(d, "data_stream.type") == "logs")
    #expect(str(d, "data_stream.dataset") == dataset)
    #expect(str(d, "data_stream.namespace") == namespace)
    #expect(str(d, "ecs.version") == "8.7.0")
    #expect(str(d, "event.dataset") == dataset)
    #expect(str(d, "event.kind") == kind)
    #expect(str(d, "event.module") == "cloud_defend")
    #expect(str(d, "event.created") == "2023-03-20T16:05:00.000Z")
    #expect(UUID(uuidString: str(d, "event.id") ?? "") != nil)
    #expect(str(d, "host.architecture") == "amd64")
    #expect(str(d, "host.boot.id") == "815a760f-8153-49e1-9d0b-da0d3b2a468c")
    #expect(str(d, "host.id") == "1bb9e6a948dfb1c3cd38d1fdc8de4481")
    #expect(strs(d, "host.ip") == ["127.0.0.1", "172.20.0.2"])
    #expect(strs(d, "host.mac") == ["32:a9:cc:26:4c:e5"])
    #expect(str(d, "host.hostname") == "kibana-node")
    #expect(str(d, "host.name") == "kibana-node.myapp.co")
    #expect(str(d, "host.os.family") == "ubuntu")
    #expect(str(d, "host.os.full") == "Ubuntu 20.04.5")
    #expect(str(d, "host.os.kernel") == "5.10.161+ #1 SMP")
    #expect(str(d, "host.os.name") == "Linux")
    #expect(str(d, "host.os.platform") == "ubuntu")
    #expect(str(d, "host.os.type") == "linux")
    #expect(str(d, "host.os.version") == "20.04.5")
    #expect(int(d, "host.pid_ns_ino") == 4026531836)
    #expect(str(d, "orchestrator.cluster.id") == "12345")
    #expect(str(d, "orchestrator.cluster.name") == "website")
    #expect(str(d, "orchestrator.namespace") == "default")
    #expect(str(d, "orchestrator.resource.name") == "webapp-proxy")
    #expect(str(d, "orchestrator.resource.type") == "pod")
    #expect(strs(d, "orchestrator.resource.label") == ["service:webapp"])
    #expect(strs(d, "orchestrator.resource.annotation") == ["note:testing"])
    #expect(strs(d, "orchestrator.resource.ip") == ["172.18.0.6"])
    #expect(str(d, "orchestrator.resource.parent.type") == "ReplicaSet")
    #expect(str(d, "user.id") == "0")
    #expect(str(d, "group.id") == "0")
    #expect(str(d, "process.user.id") == "0")
    #expect(str(d, "process.group.id") == "0")
}

private func entity(_ pid: Int32, _ startSec: Int64) -> String {
    Data("\(agentID)-\(pid)-\(startSec)".utf8).base64EncodedString()
}

@Suite struct DocumentGoldenTests {
    @Test func forkLogDocument() throws {
        var s = Scenario()
        let docs = try s.documents(KernelEvent(record: .fork(ForkRecord(child: s.ls)), hook: .sched_process_fork,
                                               decision: Decision(operation: .fork, actions: .log), bootTimeNs: s.ls.startBootNs))
        let d = try #require(docs.first)
        #expect(docs.count == 1)
        expectCommon(d, dataset: "cloud_defend.process", kind: "event")
        #expect(str(d, "@timestamp") == "2023-03-20T16:03:59.520Z")
        #expect(str(d, "event.action") == "fork")
        #expect(strs(d, "event.category") == ["process"])
        #expect(strs(d, "event.type") == ["start"])
        #expect(get(d, "event.outcome") == nil)
        #expect(get(d, "message") == nil)
        #expect(strs(d, "cloud_defend.hook_point") == ["tracepoint__sched_process_fork"])
        #expect(int(d, "process.pid") == 1001)
        #expect(str(d, "process.name") == "bash")
        #expect(str(d, "process.executable") == "/bin/bash")
        #expect(strs(d, "process.args") == ["bash"])
        #expect(str(d, "process.start") == "2023-03-20T16:03:59.520Z")
        #expect(str(d, "process.entity_id") == entity(1001, 1_679_328_239))
        #expect(bool(d, "process.interactive") == true)
        #expect(str(d, "process.working_directory") == "/usr/share/elastic-agent")
        #expect(get(d, "process.end") == nil)
        // parent
        #expect(int(d, "process.parent.pid") == 1000)
        #expect(str(d, "process.parent.executable") == "/bin/bash")
        #expect(strs(d, "process.parent.args") == ["bash"])
        #expect(str(d, "process.parent.entity_id") == entity(1000, 1_679_328_200))
        #expect(str(d, "process.parent.name") == "bash")
        #expect(str(d, "process.parent.start") == "2023-03-20T16:03:20.000Z")
        #expect(str(d, "process.parent.user.id") == "0")
        #expect(str(d, "process.parent.group.id") == "0")
        #expect(str(d, "process.parent.working_directory") == "/usr/share/elastic-agent")
        #expect(bool(d, "process.parent.interactive") == true)
        #expect(bool(d, "process.parent.same_as_process") == false)
        // group leader is the process itself, session and entry leader the bash
        #expect(int(d, "process.group_leader.pid") == 1001)
        #expect(bool(d, "process.group_leader.same_as_process") == true)
        #expect(int(d, "process.session_leader.pid") == 1000)
        #expect(bool(d, "process.session_leader.same_as_process") == false)
        #expect(int(d, "process.entry_leader.pid") == 1000)
        #expect(str(d, "process.entry_leader.entry_meta.type") == "container")
        #expect(str(d, "process.entry_leader.entity_id") == entity(1000, 1_679_328_200))
        for rel in ["parent", "group_leader", "session_leader", "entry_leader"] {
            for f in ["args", "entity_id", "executable", "name", "pid", "start", "user", "group", "working_directory",
                      "interactive", "same_as_process"] {
                #expect(get(d, "process.\(rel).\(f)") != nil, "process.\(rel).\(f)")
            }
        }
    }

    @Test func execWithLogAndAlertWritesTwoDocuments() throws {
        var s = Scenario()
        _ = try s.documents(KernelEvent(record: .fork(ForkRecord(child: s.ls)), hook: .sched_process_fork, bootTimeNs: s.ls.startBootNs))
        let exec = ExecRecord(task: s.ls.execing("/usr/bin/ls"), filename: "/usr/bin/ls", cwd: "/usr/share/elastic-agent", args: ["ls", "--color=auto"])
        let docs = try s.documents(KernelEvent(record: .exec(exec), hook: .sched_process_exec,
                                               decision: Decision(operation: .exec, actions: [.log, .alert]),
                                               bootTimeNs: s.ls.startBootNs + 1_000_000))
        #expect(docs.count == 2)
        let log = docs[0], alert = docs[1]
        expectCommon(log, dataset: "cloud_defend.process", kind: "event")
        expectCommon(alert, dataset: "cloud_defend.alerts", kind: "alert")
        #expect(str(log, "event.id") != str(alert, "event.id"))
        for d in docs {
            #expect(str(d, "event.action") == "exec")
            #expect(strs(d, "event.type") == ["start"])
            #expect(strs(d, "cloud_defend.hook_point") == ["tracepoint__sched_process_fork", "tracepoint__sched_process_exec"])
            #expect(str(d, "process.executable") == "/usr/bin/ls")
            #expect(str(d, "process.name") == "ls")
            #expect(strs(d, "process.args") == ["ls", "--color=auto"])
            let prev = try #require(get(d, "process.previous") as? [[String: Any]])
            #expect(prev.count == 1)
            #expect(prev.first?["executable"] as? String == "/bin/bash")
            #expect(prev.first?["args"] as? [String] == ["bash"])
            #expect(str(d, "process.group_leader.executable") == "/usr/bin/ls")
        }
        #expect(str(alert, "message") == "Container process execution detected")
        #expect(get(log, "message") == nil)
    }

    /// `process.args_count` is the kernel's argc; args the record could not carry, or the document
    /// cannot hold, are marked truncated; an executable or working directory without a name left is
    /// marked deleted. A whole, present image carries no marker.
    @Test func argsCountTruncationAndDeletedMarkers() throws {
        var s = Scenario()
        _ = try s.documents(KernelEvent(record: .fork(ForkRecord(child: s.ls)), hook: .sched_process_fork, bootTimeNs: s.ls.startBootNs))
        let whole = ExecRecord(task: s.ls.execing("/usr/bin/ls"), filename: "/usr/bin/ls", cwd: "/w", args: ["ls", "-l"])
        let d0 = try #require(try s.documents(KernelEvent(record: .exec(whole), hook: .sched_process_exec,
                                                          decision: Decision(operation: .exec, actions: .log),
                                                          bootTimeNs: s.ls.startBootNs + 1)).first)
        #expect(int(d0, "process.args_count") == 2)
        #expect(get(d0, "cloud_defend.truncated") == nil && get(d0, "cloud_defend.deleted") == nil)
        #expect(int(d0, "process.parent.args_count") == 1)
        // argv[1] padded to the record's limit: the kernel counted 5 arguments, 2 arrived
        let cut = ExecRecord(task: s.ls.execing("/tmp/x"), filename: "/tmp/x", cwd: "/w/gone",
                             args: ["x", String(repeating: "A", count: 100)], argc: 5, argsTruncated: true,
                             filenameDeleted: true, cwdDeleted: true)
        let d1 = try #require(try s.documents(KernelEvent(record: .exec(cut), hook: .sched_process_exec,
                                                          decision: Decision(operation: .exec, actions: .log),
                                                          bootTimeNs: s.ls.startBootNs + 2)).first)
        #expect(int(d1, "process.args_count") == 5)
        #expect(strs(d1, "cloud_defend.truncated") == ["process.args"])
        #expect(strs(d1, "cloud_defend.deleted") == ["process.executable", "process.working_directory"])
        #expect(str(d1, "process.executable") == "/tmp/x")
        // more arguments than a document holds (DocumentConfig.maxArgs): truncated, with the count
        let many = ExecRecord(task: s.ls.execing("/bin/echo"), filename: "/bin/echo", cwd: "/w",
                              args: (0..<2000).map { "a\($0)" })
        let d2 = try #require(try s.documents(KernelEvent(record: .exec(many), hook: .sched_process_exec,
                                                          decision: Decision(operation: .exec, actions: .log),
                                                          bootTimeNs: s.ls.startBootNs + 3)).first)
        #expect(int(d2, "process.args_count") == 2000)
        #expect(strs(d2, "cloud_defend.truncated") == ["process.args"])
        #expect(get(d2, "cloud_defend.deleted") == nil)
    }

    @Test func endDocumentFollowsLoggedStart() throws {
        var s = Scenario()
        _ = try s.documents(KernelEvent(record: .fork(ForkRecord(child: s.ls)), hook: .sched_process_fork,
                                        decision: Decision(operation: .fork, actions: .log), bootTimeNs: s.ls.startBootNs))
        let docs = try s.documents(KernelEvent(record: .exit(ExitRecord(task: s.ls, exitStatus: 2 << 8)), hook: .sched_process_exit,
                                               bootTimeNs: 252 * sec))
        let d = try #require(docs.first)
        #expect(docs.count == 1)
        expectCommon(d, dataset: "cloud_defend.process", kind: "event")
        #expect(str(d, "event.action") == "end")
        #expect(strs(d, "event.type") == ["end"])
        #expect(str(d, "process.end") == "2023-03-20T16:04:12.000Z")
        #expect(int(d, "process.exit_code") == 2)
        #expect(strs(d, "cloud_defend.hook_point") == ["tracepoint__sched_process_fork", "tracepoint__sched_process_exit"])
        // an exit of a process whose start was not reported writes nothing
        let other = task(1500, ppid: 1000, start: 240 * sec, sid: 1000, comm: "x")
        _ = try s.documents(KernelEvent(record: .fork(ForkRecord(child: other)), hook: .sched_process_fork, bootTimeNs: 240 * sec))
        #expect(try s.documents(KernelEvent(record: .exit(ExitRecord(task: other, exitStatus: 0)), hook: .sched_process_exit, bootTimeNs: 241 * sec)).isEmpty)
    }

    @Test func telemetryOnlyRecordsWriteNothing() throws {
        var s = Scenario()
        #expect(try s.documents(KernelEvent(record: .fork(ForkRecord(child: s.ls)), hook: .sched_process_fork, bootTimeNs: s.ls.startBootNs)).isEmpty)
        #expect(try s.documents(KernelEvent(record: .setsid(SetsidRecord(task: s.ls)), hook: .sys_exit_setsid,
                                            decision: Decision(actions: .log), bootTimeNs: s.ls.startBootNs)).isEmpty)
    }

    @Test func deniedExecIsABlockedAlert() throws {
        var s = Scenario()
        let exec = ExecRecord(task: s.bash.execing("/tmp/xmrig"), filename: "/tmp/xmrig", cwd: "/tmp", args: ["./xmrig"])
        let docs = try s.documents(KernelEvent(record: .exec(exec), hook: .bprm_check_security,
                                               decision: Decision(operation: .exec, actions: [.alert, .block], denied: true),
                                               bootTimeNs: 250 * sec))
        let d = try #require(docs.first)
        #expect(docs.count == 1)
        expectCommon(d, dataset: "cloud_defend.alerts", kind: "alert")
        #expect(strs(d, "event.type") == ["start", "denied"])
        #expect(str(d, "event.outcome") == "failure")
        #expect(str(d, "message") == "Container process execution blocked")
        #expect(str(d, "process.executable") == "/tmp/xmrig")
        #expect(strs(d, "cloud_defend.hook_point")?.contains("lsm__bprm_check_security") == true)
    }

    @Test func fileDocumentsForEachAction() throws {
        let cases: [(HookPoint, PolicyOperation, String, String, String)] = [
            (.path_mknod, .createFile, "creation", "creation", "File created in container"),
            (.file_open, .createExecutable, "creation", "creation", "Executable created in container"),
            (.file_open, .modifyFile, "open", "change", "File modified in container"),
            (.path_truncate, .modifyExecutable, "modification", "change", "Executable modified in container"),
            (.path_chmod, .createExecutable, "modification", "creation", "Executable created in container"),
            (.path_unlink, .deleteFile, "deletion", "deletion", "File deleted in container"),
            (.path_rename, .createExecutable, "rename", "creation", "Executable created in container"),
            (.path_link, .createFile, "link", "creation", "File created in container"),
        ]
        for (hook, op, action, type, title) in cases {
            var s = Scenario(namespace: "prod")
            let old: String? = (hook == .path_rename || hook == .path_link) ? "/tmp/staging.bin" : nil
            let rec = FileRecord(task: s.bash, path: "/home/workspace/project/script.ts", oldPath: old, mode: 0o755)
            let docs = try s.documents(KernelEvent(record: .file(rec), hook: hook,
                                                   decision: Decision(operation: op, actions: [.log, .alert]), bootTimeNs: 260 * sec))
            #expect(docs.count == 2, "\(hook)")
            let log = docs[0], alert = docs[1]
            expectCommon(log, dataset: "cloud_defend.file", kind: "event", namespace: "prod")
            expectCommon(alert, dataset: "cloud_defend.alerts", kind: "alert", namespace: "prod")
            for d in docs {
                #expect(str(d, "event.action") == action, "\(hook)")
                #expect(strs(d, "event.category") == ["file"])
                #expect(strs(d, "event.type") == [type], "\(hook)")
                #expect(str(d, "cloud_defend.hook_point") == hook.ecsName)
                #expect(str(d, "file.path") == "/home/workspace/project/script.ts")
                #expect(str(d, "file.name") == "script.ts")
                #expect(str(d, "file.extension") == "ts")
                #expect(str(d, "file.Ext.original.path") == old)
                #expect(str(d, "file.Ext.original.name") == old.map { _ in "staging.bin" })
                #expect(int(d, "process.pid") == 1000)
                #expect(str(d, "process.executable") == "/bin/bash")
                #expect(str(d, "process.entity_id") == entity(1000, 1_679_328_200))
                #expect(str(d, "process.entry_leader.entity_id") == entity(1000, 1_679_328_200))
                #expect(str(d, "process.session_leader.entity_id") == entity(1000, 1_679_328_200))
                #expect(str(d, "process.group_leader.entity_id") == entity(1000, 1_679_328_200))
                #expect(str(d, "process.parent.entity_id") == entity(900, 1_679_328_100))
                #expect(bool(d, "process.interactive") == true)
                #expect(str(d, "@timestamp") == "2023-03-20T16:04:20.000Z")
            }
            #expect(str(alert, "message") == title)
        }
    }

    @Test func deniedFileOperationAndNoContainer() throws {
        var s = Scenario()
        let rec = FileRecord(task: s.bash, path: "/usr/bin/.hidden")
        let docs = try s.documents(KernelEvent(record: .file(rec), hook: .file_open,
                                               decision: Decision(operation: .createExecutable, actions: [.log, .alert, .block], denied: true),
                                               bootTimeNs: 260 * sec), container: .some(nil))
        #expect(docs.count == 2)
        for d in docs {
            #expect(strs(d, "event.type") == ["creation", "denied"])
            #expect(str(d, "event.outcome") == "failure")
            #expect(get(d, "container") == nil)
            #expect(get(d, "orchestrator") == nil)
            #expect(str(d, "file.name") == ".hidden")
            #expect(get(d, "file.extension") == nil)
        }
        #expect(str(docs[1], "message") == "Executable creation in container blocked")
    }

    @Test func noCloudMeansNoCloudFields() throws {
        var b = DocumentBuilder(agent: AgentMetadata(id: "a", version: "1"), host: HostMetadata(), cloud: nil,
                                clock: BootClock(bootEpochNs: 0))
        let t = TaskInfo(pid: 5, startBootNs: 1, comm: "x")
        var buf: [UInt8] = []
        let n = b.write(event: KernelEvent(record: .file(FileRecord(task: t, path: "/a")), hook: .file_open,
                                           decision: Decision(operation: .modifyFile, actions: .log), bootTimeNs: 2),
                        process: ProcessView(process: ProcessEntry(pid: 5, name: "x", entityID: "e")), container: nil,
                        matchedSelectors: [], into: &buf)
        #expect(n == 1)
        let d = try #require(try JSONSerialization.jsonObject(with: Data(buf)) as? [String: Any])
        #expect(d["cloud"] == nil)
        #expect(get(d, "cloud_defend.package_policy_id") == nil)
        #expect(strs(d, "cloud_defend.matched_selectors") == [])
        #expect(get(d, "process.parent") == nil)
        #expect(get(d, "process.executable") == nil)
    }

    @Test func hostileProcessStringsStayValidJSON() throws {
        var s = Scenario()
        let huge = String(repeating: "A", count: 1 << 20)
        let evil = "\"}\\\n\u{0}\u{1b}[31m" + String(decoding: [0xff, 0xfe], as: UTF8.self)
        let exec = ExecRecord(task: s.bash.execing("/bin/\(evil)"), filename: "/bin/\(evil)", cwd: "/\(evil)", args: [evil, huge, huge])
        let docs = try s.documents(KernelEvent(record: .exec(exec), hook: .sched_process_exec,
                                               decision: Decision(operation: .exec, actions: .log), bootTimeNs: 250 * sec))
        let d = try #require(docs.first)
        #expect(str(d, "process.executable") == "/bin/\(evil)")
        let args = try #require(strs(d, "process.args"))
        #expect(args.first == evil)
        #expect(args.reduce(0) { $0 + $1.utf8.count } <= DocumentConfig().maxArgsBytes)
    }
}

@Suite struct ZeroCopyOutputTests {
    @Test func withDocumentsYieldsTheSameLinesAsWrite() throws {
        let agent = AgentMetadata(id: "a", version: "1")
        let clock = BootClock(bootEpochNs: 0)
        var a = DocumentBuilder(agent: agent, host: HostMetadata(), cloud: nil, clock: clock,
                                nowUnixNs: { 5 }, idGenerator: EventIDGenerator(seed: 3))
        var b = DocumentBuilder(agent: agent, host: HostMetadata(), cloud: nil, clock: clock,
                                nowUnixNs: { 5 }, idGenerator: EventIDGenerator(seed: 3))
        let t = TaskInfo(pid: 9, startBootNs: 1, comm: "x")
        let event = KernelEvent(record: .file(FileRecord(task: t, path: "/etc/shadow")), hook: .file_open,
                                decision: Decision(operation: .modifyFile, actions: [.log, .alert]), bootTimeNs: 2)
        let view = ProcessView(process: ProcessEntry(pid: 9, name: "x", entityID: "e"))
        var copied: [UInt8] = [1, 2]
        #expect(a.write(event: event, process: view, container: nil, matchedSelectors: ["s"], into: &copied) == 2)
        var inPlace: [UInt8] = []
        var calls = 0
        let n = b.withDocuments(event: event, process: view, container: nil, matchedSelectors: ["s"]) { bytes, count in
            inPlace = Array(bytes); calls += 1
            #expect(count == 2)
        }
        #expect(n == 2 && calls == 1)
        #expect(Array(copied.dropFirst(2)) == inPlace)   // write appends after existing bytes
        #expect(inPlace.filter { $0 == 0x0a }.count == 2)
        let none = b.withDocuments(event: KernelEvent(record: .setsid(SetsidRecord(task: t)), hook: .sys_exit_setsid, bootTimeNs: 3),
                                   process: view, container: nil, matchedSelectors: []) { _, _ in calls += 1 }
        #expect(none == 0 && calls == 1)
    }
}

extension TaskInfo {
    /// The task as the exec tracepoint reports it: the kernel has already renamed it (comm) after the
    /// new executable's basename, truncated to 15 bytes.
    func execing(_ path: String) -> TaskInfo {
        var t = self
        let base = path.split(separator: "/").last.map(String.init) ?? ""
        t.comm = String(decoding: Array(base.utf8.prefix(15)), as: UTF8.self)
        return t
    }
}

@Suite struct EventTemplateTests {
    /// One builder writes every (hook, operation, stream) combination: each prebuilt event block must
    /// match a freshly described one (no two kinds of document share a template slot).
    @Test func everyFileAndProcessKindKeepsItsOwnEventBlock() throws {
        var b = DocumentBuilder(agent: AgentMetadata(id: "a", version: "1"), host: HostMetadata(), cloud: nil,
                                clock: BootClock(bootEpochNs: 0))
        let view = ProcessView(process: ProcessEntry(pid: 9, name: "x", entityID: "e"))
        let t = TaskInfo(pid: 9, startBootNs: 1, comm: "x")
        let hooks: [HookPoint] = [.path_chmod, .path_mknod, .file_open, .path_truncate, .path_rename, .path_link, .path_unlink]
        let ops: [PolicyOperation] = [.createExecutable, .modifyExecutable, .createFile, .modifyFile, .deleteFile]
        for round in 0..<2 {  // the second round reads every template from the cache
            for hook in hooks {
                for op in ops {
                    for denied in [false, true] {
                        let e = KernelEvent(record: .file(FileRecord(task: t, path: "/a/b")), hook: hook,
                                            decision: Decision(operation: op, actions: [.log, .alert], denied: denied), bootTimeNs: 2)
                        let expected = try #require(EventDescription.describe(e))
                        var buf: [UInt8] = []
                        #expect(b.write(event: e, process: view, container: nil, matchedSelectors: [], into: &buf) == 2)
                        let docs = try buf.split(separator: 0x0a).map {
                            try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])
                        }
                        for (i, d) in docs.enumerated() {
                            let event = try #require(d["event"] as? [String: Any])
                            #expect(event["action"] as? String == expected.action.description, "\(hook) \(op) round \(round)")
                            #expect(event["type"] as? [String] == [expected.type.description] + (denied ? ["denied"] : []))
                            #expect(event["kind"] as? String == (i == 0 ? "event" : "alert"))
                            #expect(event["dataset"] as? String == (i == 0 ? "cloud_defend.file" : "cloud_defend.alerts"))
                            if i == 1 {
                                #expect(d["message"] as? String == (denied ? expected.blockedTitle : expected.alertTitle).description)
                            } else {
                                #expect(d["message"] == nil)
                            }
                        }
                    }
                }
            }
        }
    }
}
