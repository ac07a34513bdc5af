import Foundation
import Testing

/// The real agent (`defend run --scope containers`) against real containers: a private containerd + runc
/// running a busybox-static image. Host kernel tracepoints only (no BPF-LSM here), so process events;
/// file events and blocking are covered by the QEMU scenarios.
///
/// Containers: `before` (Kubernetes-shaped cgroup, CRI-like annotations) exists before the agent starts and
/// gets a `ctr task exec`, so does `plainBefore` (default cgroup, no annotations); `kube` (Kubernetes-shaped, annotated) and `plain` (containerd's default
/// `/<namespace>/<id>` cgroup, no annotations: image from containerd's meta.db) start while the agent runs. A host shell runs the same
/// commands and must produce nothing.
@Suite(.serialized) struct ContainerdHostTests {
    static let image = "docker.io/library/busybox-defend:1.0"
    static let workload = "/bin/cat /etc/hostname; /bin/ls /"
    /// Containers outlive the agent's ring-buffer drain interval (100 ms): one started and removed
    /// before the agent reads its cgroup_mkdir record has no bundle left to be described from.
    static let containerWorkload = workload + "; /bin/sleep 0.4"

    static let policy = """
        process:
          selectors:
            - name: allProcesses
              operation: [fork, exec]
            - name: catInBusybox
              operation: [exec]
              containerImageName: [busybox-defend]
              processName: [cat]
            - name: catInOtherImage
              operation: [exec]
              containerImageName: [nginx-defend-absent]
              processName: [cat]
          responses:
            - match: [allProcesses]
              actions: [log]
            - match: [catInBusybox]
              actions: [alert]
            - match: [catInOtherImage]
              actions: [alert]

        """

    static func hexID() -> String {
        (UUID().uuidString + UUID().uuidString).lowercased().filter { $0 != "-" }
    }

    static func criAnnotations(pod: String, namespace: String) -> [String: String] {
        ["io.kubernetes.cri.image-name": image,
         "io.kubernetes.cri.container-type": "container",
         "io.kubernetes.cri.container-name": "shell",
         "io.kubernetes.cri.sandbox-name": pod,
         "io.kubernetes.cri.sandbox-namespace": namespace]
    }

    @Test(.disabled(if: ContainerdHarness.unavailableReason != nil,
                    Comment(rawValue: ContainerdHarness.unavailableReason ?? "")),
          .timeLimit(.minutes(2)))
    func containerProcessesAreDescribedAndHostProcessesIgnored() throws {
        let ctr = try ContainerdHarness()
        defer { ctr.shutDown() }
        let dir = ctr.directory
        try ctr.start()
        try ctr.importBusyboxImage(reference: Self.image, hostname: "busybox-defend-host")

        let before = Self.hexID(), kube = Self.hexID(), plain = "plain-\(UUID().uuidString.prefix(8).lowercased())"
        let plainBefore = "plain-before-\(UUID().uuidString.prefix(8).lowercased())"
        let podBefore = UUID().uuidString.lowercased(), podKube = UUID().uuidString.lowercased()
        try ctr.runContainer(image: Self.image, id: before, cgroup: "/kubepods/besteffort/pod\(podBefore)/\(before)",
                             annotations: Self.criAnnotations(pod: "defend-before", namespace: "defend-ns"),
                             detach: true, command: ["/bin/sleep", "600"])
        try ctr.runContainer(image: Self.image, id: plainBefore, detach: true, command: ["/bin/sleep", "600"])

        // The agent, started with the `before` and `plainBefore` containers already running.
        try Self.policy.write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        let out = dir + "/events.ndjson", ready = dir + "/ready", log = dir + "/agent.log"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: RunCommandHostTests.defendBinary())
        agent.arguments = ["run", "--scope", "containers", "--policy", dir + "/policy.yaml", "--output", out,
                           "--ready-file", ready, "--state-dir", dir + "/agent-state", "--no-cloud-metadata",
                           "--stats-interval", "0", "--containerd-state", ctr.stateDirectory]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        agent.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try agent.run()
        defer { if agent.isRunning { agent.terminate(); agent.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready), agent.isRunning, Date() < deadline { usleep(50_000) }
        let agentLog = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try #require(FileManager.default.fileExists(atPath: ready), "agent not ready: \(agentLog())")

        // The host runs the same commands (tagged so they can be recognised) and must produce nothing.
        let hostMarker = "defend-host-\(UUID().uuidString.prefix(8))"
        try ContainerdHarness.run("/bin/sh", ["-c", Self.workload + " >/dev/null; /bin/echo \(hostMarker) >/dev/null"],
                                  outputFile: dir + "/host.out", timeout: 10)

        let kubeOutput = try ctr.runContainer(
            image: Self.image, id: kube, cgroup: "/kubepods/besteffort/pod\(podKube)/\(kube)",
            annotations: Self.criAnnotations(pod: "defend-pod", namespace: "defend-ns"),
            detach: false, command: ["/bin/sh", "-c", Self.containerWorkload])
        #expect(kubeOutput.contains("busybox-defend-host"), "container output: \(kubeOutput)")
        try ctr.runContainer(image: Self.image, id: plain, detach: false, command: ["/bin/sh", "-c", Self.containerWorkload])
        try ctr.ctr(["task", "exec", "--exec-id", "defend-exec", before, "/bin/sh", "-c", Self.containerWorkload], timeout: 30)
        try ctr.ctr(["task", "exec", "--exec-id", "defend-exec", plainBefore, "/bin/sh", "-c", Self.containerWorkload], timeout: 30)
        let beforeInit = try #require(try ctr.initPID(of: before))

        usleep(700_000)  // the agent flushes every 200 ms
        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "agent log: \(agentLog())")
        // The start window of the two containers started under the agent (printed, never asserted).
        let stopping = agentLog().split(separator: "\n").last { $0.contains("stopping:") } ?? ""
        print("defend-e2e: containerd start window (kube-shaped + plain /<namespace>/<id>): "
              + stopping.split(separator: " ").filter { $0.hasPrefix("container_exec_window_ms=")
                  || $0.hasPrefix("container_complete_ms=") || $0.hasPrefix("redecided=") }.joined(separator: " "))

        // Event documents (logs-*); the node's heartbeat (metrics-*) describes no container.
        let docs = try RunCommandHostTests.documents(out).filter { Documents.object($0, "data_stream")["type"] as? String == "logs" }
        let checker = Documents(docs)
        #expect(!docs.isEmpty, "no documents; agent log: \(agentLog())")

        // Scope containers: every document is a container's; nothing from the host shell.
        #expect(docs.allSatisfy { Documents.containerID($0) != nil }, "a document without container.id")
        #expect(!docs.contains { Documents.args($0).contains { $0.contains(hostMarker) } }, "the host shell was reported")
        // The selector on another image never fires.
        #expect(!docs.contains { Documents.selectors($0).contains("catInOtherImage") })

        // kube: started under the agent, Kubernetes-shaped cgroup, CRI annotations.
        let kubeShell = try #require(checker.exec(container: kube, args: ["/bin/sh", "-c", Self.containerWorkload]),
                                     "no exec document for kube's shell in \(out)")
        checker.expectDescribed(kubeShell, id: kube, pod: "defend-pod", namespace: "defend-ns")
        let kubeShellProcess = Documents.process(kubeShell)
        let entry = Documents.object(kubeShellProcess, "entry_leader")
        #expect(Documents.object(entry, "entry_meta")["type"] as? String == "container")
        #expect(entry["pid"] as? Int == kubeShellProcess["pid"] as? Int, "the container's init is its entry leader")
        #expect(entry["same_as_process"] as? Bool == true)
        let parentName = Documents.object(kubeShellProcess, "parent")["name"] as? String ?? ""
        #expect(parentName.hasPrefix("containerd-shim") || parentName.hasPrefix("runc"), "parent \(parentName)")
        let kubeCat = try #require(checker.exec(container: kube, args: ["/bin/cat", "/etc/hostname"]))
        checker.expectDescribed(kubeCat, id: kube, pod: "defend-pod", namespace: "defend-ns")
        #expect(Documents.object(Documents.process(kubeCat), "entry_leader")["pid"] as? Int == kubeShellProcess["pid"] as? Int)
        #expect(Documents.object(Documents.process(kubeCat), "parent")["pid"] as? Int == kubeShellProcess["pid"] as? Int)
        checker.expectAlert(container: kube, args: ["/bin/cat", "/etc/hostname"])
        #expect(checker.exec(container: kube, args: ["/bin/ls", "/"]) != nil)
        #expect(!checker.alerted(container: kube, args: ["/bin/ls", "/"]), "ls is not cat")

        // before: existed when the agent started; the exec'd shell leads its own entry into the container.
        let beforeShell = try #require(checker.exec(container: before, args: ["/bin/sh", "-c", Self.containerWorkload]),
                                       "no exec document for the command exec'd in `before` in \(out)")
        checker.expectDescribed(beforeShell, id: before, pod: "defend-before", namespace: "defend-ns")
        let beforeEntry = Documents.object(Documents.process(beforeShell), "entry_leader")
        #expect(Documents.object(beforeEntry, "entry_meta")["type"] as? String == "container")
        #expect(beforeEntry["pid"] as? Int == Documents.process(beforeShell)["pid"] as? Int, "exec'd by the shim: its own entry leader")
        #expect(beforeEntry["pid"] as? Int != Int(beforeInit))
        let beforeCat = try #require(checker.exec(container: before, args: ["/bin/cat", "/etc/hostname"]))
        checker.expectDescribed(beforeCat, id: before, pod: "defend-before", namespace: "defend-ns")
        checker.expectAlert(container: before, args: ["/bin/cat", "/etc/hostname"])

        // plain: containerd's default /<namespace>/<id> cgroup, no annotations: the image comes from
        // containerd's metadata database (meta.db), there is no pod.
        let plainShell = try #require(checker.exec(container: plain, args: ["/bin/sh", "-c", Self.containerWorkload]),
                                      "no exec document for plain's shell in \(out)")
        let plainImage = Documents.object(Documents.object(plainShell, "container"), "image")
        #expect(plainImage["name"] as? String == "busybox-defend")
        #expect(plainImage["tag"] as? String == "1.0")
        #expect(Documents.object(plainShell, "orchestrator").isEmpty)
        #expect(Documents.object(Documents.object(Documents.process(plainShell), "entry_leader"), "entry_meta")["type"] as? String == "container")
        #expect(checker.exec(container: plain, args: ["/bin/cat", "/etc/hostname"]) != nil)
        checker.expectAlert(container: plain, args: ["/bin/cat", "/etc/hostname"])

        // plainBefore: default cgroup, found by the cgroup walk at start, image from meta.db.
        let plainBeforeCat = try #require(checker.exec(container: plainBefore, args: ["/bin/cat", "/etc/hostname"]),
                                          "no exec document for the cat exec'd in plainBefore in \(out)")
        #expect(Documents.object(Documents.object(plainBeforeCat, "container"), "image")["name"] as? String == "busybox-defend")
        #expect(Documents.object(plainBeforeCat, "orchestrator").isEmpty)
        checker.expectAlert(container: plainBefore, args: ["/bin/cat", "/etc/hostname"])
    }
}

/// Queries over the agent's NDJSON documents.
struct Documents: CustomStringConvertible {
    let all: [[String: Any]]
    /// Short, so a failed expectation does not print every document.
    var description: String { "\(all.count) documents" }
    init(_ all: [[String: Any]]) { self.all = all }

    static func object(_ d: [String: Any], _ key: String) -> [String: Any] { d[key] as? [String: Any] ?? [:] }
    static func process(_ d: [String: Any]) -> [String: Any] { object(d, "process") }
    static func args(_ d: [String: Any]) -> [String] { process(d)["args"] as? [String] ?? [] }
    static func containerID(_ d: [String: Any]) -> String? { object(d, "container")["id"] as? String }
    static func selectors(_ d: [String: Any]) -> [String] { object(d, "cloud_defend")["matched_selectors"] as? [String] ?? [] }
    static func kind(_ d: [String: Any]) -> String? { object(d, "event")["kind"] as? String }
    static func action(_ d: [String: Any]) -> String? { object(d, "event")["action"] as? String }

    /// The logged (event, not alert) exec document of `args` in `container`.
    func exec(container: String, args: [String]) -> [String: Any]? {
        all.first { Self.containerID($0) == container && Self.action($0) == "exec" && Self.kind($0) == "event"
            && Self.args($0) == args }
    }

    func alerted(container: String, args: [String]) -> Bool {
        all.contains { Self.containerID($0) == container && Self.kind($0) == "alert" && Self.args($0) == args }
    }

    func expectAlert(container: String, args: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let alert = all.first { Self.containerID($0) == container && Self.kind($0) == "alert" && Self.args($0) == args }
        #expect(alert != nil, "no alert for \(args) in \(container)", sourceLocation: sourceLocation)
        guard let alert else { return }
        #expect(Self.selectors(alert).contains("catInBusybox"), "selectors \(Self.selectors(alert))", sourceLocation: sourceLocation)
        #expect(Self.object(alert, "data_stream")["dataset"] as? String == "cloud_defend.alerts", sourceLocation: sourceLocation)
        #expect(Self.action(alert) == "exec", sourceLocation: sourceLocation)
    }

    /// container.* and orchestrator.* of a document from an annotated busybox-defend container.
    func expectDescribed(_ d: [String: Any], id: String, pod: String, namespace: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        let container = Self.object(d, "container")
        #expect(container["id"] as? String == id, sourceLocation: sourceLocation)
        let image = Self.object(container, "image")
        #expect(image["name"] as? String == "busybox-defend", "container: \(container)", sourceLocation: sourceLocation)
        #expect(image["tag"] as? String == "1.0", sourceLocation: sourceLocation)
        let orchestrator = Self.object(d, "orchestrator")
        #expect(orchestrator["namespace"] as? String == namespace, "orchestrator: \(orchestrator)", sourceLocation: sourceLocation)
        #expect(orchestrator["type"] as? String == "kubernetes", sourceLocation: sourceLocation)
        let resource = Self.object(orchestrator, "resource")
        #expect(resource["name"] as? String == pod, sourceLocation: sourceLocation)
        #expect(resource["type"] as? String == "pod", sourceLocation: sourceLocation)
        #expect(Self.selectors(d).contains("allProcesses"), sourceLocation: sourceLocation)
    }
}
