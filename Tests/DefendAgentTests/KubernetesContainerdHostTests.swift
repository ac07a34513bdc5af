import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// End to end, issue #9: the real `defend run --kubeconfig FILE --node-name N --scope containers` against
/// real containerd + runc containers laid out as the kubelet lays them out (pod cgroups under `kubepods`
/// with the pod UID, cgroupfs and systemd forms; a sandbox container and app containers with the CRI
/// annotations containerd's CRI plugin writes), and a local API server (`FakeAPIServer`, TLS with a
/// test-made CA, bearer token) serving this node's pods and the namespaces as the Kubernetes API
/// documents (list, then a chunked watch stream).
///
/// The policy alerts on `cat` in pods labelled `app:web` of namespace `defend-e2e` in the cluster whose
/// id is kube-system's UID. Three pods: `web-0` (app=web, defend-e2e), `api-0` (app=api, defend-e2e) and
/// `web-elsewhere-0` (app=web, namespace defend-other). Only web-0 alerts. Then the labels change on the
/// API server (watch MODIFIED events: web-0 becomes app=batch, api-0 becomes app=web): the next `cat`
/// alerts in api-0 only, with no restart (and no relist). Then api-0 is deleted (watch DELETED): its
/// labels are unknown again and its next `cat` does not alert. On this host kernel (no BPF-LSM) the decisions are the exec
/// tracepoint's, made with the container masks the agent wrote; the VM scenarios cover blocking.
///
/// Run twice: with the Kubernetes settings as flags (`--kubeconfig --node-name --cluster-name`) and as the
/// configuration file's `kubernetes.*` keys.
///
/// Prints the start window: from a container's first exec to its complete masks (with pod labels) in
/// the kernel (`container_exec_window_ms=last/max`; negative = the masks were there before the first
/// exec) and from its cgroup's mkdir (`container_complete_ms`). Never asserted: timings vary.
@Suite(.serialized) struct KubernetesContainerdHostTests {
    static let image = ContainerdHostTests.image
    static let node = "defend-e2e-node"
    static let token = "e2e-token-\(UUID().uuidString.prefix(8))"

    static var unavailableReason: String? {
        if let r = ContainerdHarness.unavailableReason { return r }
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") { return "openssl missing (test CA)" }
        return nil
    }

    static func policy(clusterID: String) -> String {
        """
        process:
          selectors:
            - name: allExecs
              operation: [exec]
            - name: catInWebPods
              operation: [exec]
              processName: [cat]
              kubernetesPodLabel: ["app:web"]
              kubernetesNamespace: [defend-e2e]
              kubernetesClusterId: ["\(clusterID)"]
            - name: catInAnotherCluster
              operation: [exec]
              processName: [cat]
              kubernetesPodLabel: ["app:web"]
              kubernetesClusterId: ["not-this-cluster"]
          responses:
            - match: [allExecs]
              actions: [log]
            - match: [catInWebPods]
              actions: [alert]
            - match: [catInAnotherCluster]
              actions: [alert]

        """
    }

    struct Pod {
        let uid = UUID().uuidString.lowercased()
        let name: String
        let namespace: String
        var labels: [String: String]
        let container = ContainerdHostTests.hexID()
        let systemdCgroups: Bool

        /// The container's cgroup as the kubelet (cgroupfs or systemd driver) and containerd lay it out.
        func cgroup(_ id: String) -> String {
            systemdCgroups
                ? "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(id).scope"
                : "/kubepods/besteffort/pod\(uid)/\(id)"
        }

        /// What containerd's CRI plugin annotates an app container (or the sandbox) with.
        func annotations(sandboxID: String, type: String) -> [String: String] {
            var a = ["io.kubernetes.cri.container-type": type,
                     "io.kubernetes.cri.sandbox-id": sandboxID,
                     "io.kubernetes.cri.sandbox-name": name,
                     "io.kubernetes.cri.sandbox-namespace": namespace,
                     "io.kubernetes.cri.sandbox-uid": uid]
            if type == "container" {
                a["io.kubernetes.cri.container-name"] = "main"
                a["io.kubernetes.cri.image-name"] = KubernetesContainerdHostTests.image
            }
            return a
        }
    }

    @Test(.disabled(if: KubernetesContainerdHostTests.unavailableReason != nil,
                    Comment(rawValue: KubernetesContainerdHostTests.unavailableReason ?? "")),
          .timeLimit(.minutes(3)), arguments: [false, true])
    func podLabelsNamespaceAndClusterDecideAndALabelChangeChangesTheNextDecision(configurationFile: Bool) throws {
        let ctr = try ContainerdHarness(namespace: "defend-k8s-e2e")
        defer { ctr.shutDown() }
        let dir = ctr.directory
        let pki = try TestPKI()
        defer { pki.remove() }

        // The API server: kube-system (its UID is the cluster id), the pods' namespaces, three pods on
        // this node and one on another node (which the node's field selector keeps out).
        let clusterID = UUID().uuidString.lowercased()
        let api = FakeAPIServer(tls: try pki.serverContext(requireClientCertificate: false))
        api.token = Self.token
        try api.start()
        defer { api.shutdown() }
        api.addNamespace("kube-system", uid: clusterID)
        api.addNamespace("defend-e2e", uid: UUID().uuidString.lowercased())
        api.addNamespace("defend-other", uid: UUID().uuidString.lowercased())
        var web = Pod(name: "web-0", namespace: "defend-e2e", labels: ["app": "web", "tier": "front"], systemdCgroups: false)
        var apiPod = Pod(name: "api-0", namespace: "defend-e2e", labels: ["app": "api"], systemdCgroups: true)
        let elsewhere = Pod(name: "web-elsewhere-0", namespace: "defend-other", labels: ["app": "web"], systemdCgroups: false)
        let sandbox = ContainerdHostTests.hexID()
        func publish(_ p: Pod, node: String = Self.node) {
            api.putPod(uid: p.uid, name: p.name, namespace: p.namespace, node: node, labels: p.labels,
                       annotations: ["kubernetes.io/config.source": "api"], ip: "10.244.0.\(p.name.count)",
                       owner: "StatefulSet", containerIDs: [p.container] + (p.uid == web.uid ? [sandbox] : []))
        }
        for p in [web, apiPod, elsewhere] { publish(p) }
        api.putPod(uid: UUID().uuidString.lowercased(), name: "web-on-another-node", namespace: "defend-e2e",
                   node: "another-node", labels: ["app": "web"])

        let kubeconfig = dir + "/kubeconfig"
        try """
            apiVersion: v1
            kind: Config
            clusters:
              - name: e2e
                cluster:
                  server: \(api.server)
                  certificate-authority: \(pki.directory)/ca.crt
            users:
              - name: defend
                user:
                  token: \(Self.token)
            contexts:
              - name: e2e
                context: {cluster: e2e, user: defend}
            current-context: e2e

            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        try Self.policy(clusterID: clusterID).write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)

        try ctr.start()
        try ctr.importBusyboxImage(reference: Self.image, hostname: "busybox-defend-host")

        // The agent, as a DaemonSet pod would run it (flags instead of the downward API).
        let out = dir + "/events.ndjson", ready = dir + "/ready", log = dir + "/agent.log"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: RunCommandHostTests.defendBinary())
        // The same settings from the flags, or from the configuration file's kubernetes.* keys.
        var settings = ["--kubeconfig", kubeconfig, "--node-name", Self.node, "--cluster-name", "e2e-cluster",
                        "--scope", "containers", "--policy", dir + "/policy.yaml"]
        if configurationFile {
            try """
                policy: policy.yaml
                scope: containers
                kubernetes:
                  enabled: true
                  kubeconfig: kubeconfig
                  node_name: \(Self.node)
                  cluster_name: e2e-cluster

                """.write(toFile: dir + "/defend.yaml", atomically: true, encoding: .utf8)
            settings = ["--config", dir + "/defend.yaml"]
        }
        agent.arguments = ["run"] + settings + ["--output", out,
                           "--ready-file", ready, "--state-dir", dir + "/agent-state", "--no-cloud-metadata",
                           "--stats-interval", "0", "--containerd-state", ctr.stateDirectory, "--log-level", "debug",
                           "--status-socket", dir + "/status.sock"]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        agent.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try agent.run()
        defer { if agent.isRunning { agent.terminate(); agent.waitUntilExit() } }
        let agentLog = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        /// Waits for `condition`; not met in time: fatal when `required`, else an issue and the test goes on
        /// (so the decisions are still checked, and fail for themselves).
        func waitFor(_ what: String, seconds: Double = 30, required: Bool = true, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(seconds)
            while !condition(), agent.isRunning, Date() < deadline { usleep(50_000) }
            let comment: Comment = "waited \(seconds) s for \(what); agent log:\n\(agentLog().suffix(4000))"
            if required { try #require(condition(), comment) } else { #expect(condition(), comment) }
        }
        try waitFor("the ready file") { FileManager.default.fileExists(atPath: ready) }
        // Listed and watching both resources (the kubelet creates the pod object before its containers).
        try waitFor("the pod and namespace watches") { api.watcherCount >= 2 }

        // The pods' containers, as the kubelet has containerd start them: web-0's sandbox, then each app
        // container, whose first process runs `cat` at once (the start window).
        try ctr.runContainer(image: Self.image, id: sandbox, cgroup: web.cgroup(sandbox),
                             annotations: web.annotations(sandboxID: sandbox, type: "sandbox"),
                             detach: true, command: ["/bin/sleep", "600"])
        let startCommand = ["/bin/sh", "-c", "/bin/cat /etc/hostname >/dev/null; exec /bin/sleep 600"]
        for p in [web, apiPod, elsewhere] {
            try ctr.runContainer(image: Self.image, id: p.container, cgroup: p.cgroup(p.container),
                                 annotations: p.annotations(sandboxID: p.uid == web.uid ? sandbox : p.container, type: "container"),
                                 detach: true, command: startCommand)
        }
        let first = ["/bin/cat", "/etc/hostname"]
        for p in [web, apiPod, elsewhere] {
            try ctr.ctr(["task", "exec", "--exec-id", "phase1", p.container] + first, timeout: 30)
        }

        // The labels change on the API server (watch MODIFIED events), with no restart of anything.
        let listsBefore = api.requests.filter { $0.path == "/api/v1/pods" && $0.query["watch"] == nil }.count
        web.labels = ["app": "batch", "tier": "front"]
        apiPod.labels = ["app": "web"]
        publish(web)
        publish(apiPod)
        // The agent says (at debug level) when it rewrites a container's masks; the decision after that
        // must follow the new labels.
        try waitFor("the masks rewritten with the new labels", seconds: 15, required: false) {
            let text = agentLog()
            return text.contains("container \(web.container) ") && text.split(separator: "\n").contains {
                $0.contains("container \(web.container) ") && $0.contains("rewritten") && $0.contains("app=batch")
            } && text.split(separator: "\n").contains {
                $0.contains("container \(apiPod.container) ") && $0.contains("rewritten") && $0.contains("labels [app=web]")
            }
        }
        let second = ["/bin/cat", "/etc/hostname", "/etc/hostname"]
        for p in [web, apiPod, elsewhere] {
            try ctr.ctr(["task", "exec", "--exec-id", "phase2", p.container] + second, timeout: 30)
        }
        let listsAfter = api.requests.filter { $0.path == "/api/v1/pods" && $0.query["watch"] == nil }.count

        // api-0 is deleted (watch DELETED) while its container still runs: its labels are unknown again,
        // so the label selector counts as not matching ("metadata not yet known").
        api.deletePod(uid: apiPod.uid)
        try waitFor("the masks rewritten without the deleted pod", seconds: 15, required: false) {
            agentLog().split(separator: "\n").contains {
                $0.contains("container \(apiPod.container) ") && $0.contains("rewritten") && $0.contains("(metadata pending)")
            }
        }
        let third = ["/bin/cat", "/etc/hostname", "/etc/hostname", "/etc/hostname"]
        try ctr.ctr(["task", "exec", "--exec-id", "phase3", apiPod.container] + third, timeout: 30)

        usleep(700_000)  // the agent flushes every 200 ms
        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "agent log:\n\(agentLog().suffix(4000))")
        #expect(listsAfter == listsBefore, "the label change came through the watch, not a relist")

        let docs = try RunCommandHostTests.documents(out).filter { Documents.object($0, "data_stream")["type"] as? String == "logs" }
        let checker = Documents(docs)
        let ours = Set([web.container, apiPod.container, elsewhere.container, sandbox])
        let alerts = docs.filter { Documents.kind($0) == "alert" && ours.contains(Documents.containerID($0) ?? "") }
        func alerted(_ p: Pod, _ args: [String]) -> Bool { checker.alerted(container: p.container, args: args) }
        func logged(_ p: Pod, _ args: [String]) -> [String: Any]? { checker.exec(container: p.container, args: args) }

        // Every exec was seen and described from the API server's data.
        for p in [web, apiPod, elsewhere] {
            for args in [first, second] {
                let d = try #require(logged(p, args), "no exec document for \(args) in \(p.name); agent log:\n\(agentLog().suffix(3000))")
                let o = Documents.object(d, "orchestrator")
                #expect(Documents.object(o, "cluster")["id"] as? String == clusterID, "\(p.name): \(o)")
                #expect(Documents.object(o, "cluster")["name"] as? String == "e2e-cluster")
                #expect(o["namespace"] as? String == p.namespace)
                let r = Documents.object(o, "resource")
                #expect(r["name"] as? String == p.name)
                #expect(r["type"] as? String == "pod")
                #expect(Documents.object(r, "parent")["type"] as? String == "StatefulSet")
                #expect(r["annotation"] as? [String] == ["kubernetes.io/config.source:api"])
                #expect(r["ip"] as? [String] == ["10.244.0.\(p.name.count)"])
                #expect(Documents.object(Documents.object(d, "container"), "image")["name"] as? String == "busybox-defend")
            }
        }
        #expect(Documents.object(Documents.object(try #require(logged(web, first)), "orchestrator"), "resource")["label"] as? [String]
                == ["app:web", "tier:front"])
        #expect(Documents.object(Documents.object(try #require(logged(web, second)), "orchestrator"), "resource")["label"] as? [String]
                == ["app:batch", "tier:front"])
        #expect(Documents.object(Documents.object(try #require(logged(apiPod, second)), "orchestrator"), "resource")["label"] as? [String]
                == ["app:web"])

        // Before the change: web-0 alerts (its first process's cat, and the exec'd one); api-0 (other
        // label) and web-elsewhere-0 (other namespace) do not.
        #expect(alerted(web, first), "web-0 (app=web) did not alert; alerts: \(alerts.map(Documents.args))")
        #expect(docs.contains { Documents.containerID($0) == web.container && Documents.kind($0) == "alert"
                && Documents.args($0) == ["/bin/cat", "/etc/hostname"] && Documents.selectors($0).contains("catInWebPods")
                && Documents.object($0, "data_stream")["dataset"] as? String == "cloud_defend.alerts" })
        #expect(!alerted(apiPod, first), "api-0 (app=api) alerted")
        #expect(!alerted(elsewhere, first), "web-elsewhere-0 (namespace defend-other) alerted")
        // After the change: the next decision follows the new labels.
        #expect(alerted(apiPod, second), "api-0 (now app=web) did not alert after the label change; alerts: \(alerts.map(Documents.args))")
        #expect(!alerted(web, second), "web-0 (now app=batch) still alerted after the label change")
        #expect(!alerted(elsewhere, second))
        // The first process of each container (its own `cat`, racing the container's registration).
        let startCat = ["/bin/cat", "/etc/hostname"]
        #expect(alerts.filter { Documents.containerID($0) == web.container && Documents.args($0) == startCat }.count == 2,
                "web-0: its start cat and the exec'd one")
        #expect(!alerts.contains { [apiPod.container, elsewhere.container, sandbox].contains(Documents.containerID($0) ?? "")
                && Documents.args($0) == startCat })
        // Deleted pod: no labels, no alert.
        let afterDelete = try #require(logged(apiPod, third), "no exec document after api-0 was deleted")
        #expect(Documents.object(Documents.object(afterDelete, "orchestrator"), "resource")["label"] == nil)
        #expect(!alerted(apiPod, third), "api-0 was deleted: its labels are unknown, the label selector does not match")
        // Only this node's pods were asked for and cached, always with the token.
        let podRequests = api.requests.filter { $0.path == "/api/v1/pods" }
        #expect(!podRequests.isEmpty && podRequests.allSatisfy { $0.query["fieldSelector"] == "spec.nodeName=\(Self.node)" })
        #expect(api.requests.allSatisfy { $0.authorization == "Bearer \(Self.token)" })
        let stoppingLine = agentLog().split(separator: "\n").last { $0.contains("stopping:") } ?? ""
        #expect(stoppingLine.contains(" pods=2 ") && stoppingLine.contains(" k8s_relists_410=0 "), "\(stoppingLine)")
        // Nothing from another cluster's selector; nothing from the sandbox.
        #expect(!docs.contains { Documents.selectors($0).contains("catInAnotherCluster") })
        #expect(!alerts.contains { Documents.containerID($0) == sandbox })

        // The start window figure (printed, not asserted).
        let stopping = agentLog().split(separator: "\n").last { $0.contains("stopping:") }.map(String.init) ?? ""
        let fields = stopping.split(separator: " ").filter {
            $0.hasPrefix("container_exec_window") || $0.hasPrefix("container_complete_ms=") || $0.hasPrefix("redecided=")
                || $0.hasPrefix("container_late=") || $0.hasPrefix("pods=")
        }
        print("defend-e2e: kubernetes start window (settings from \(configurationFile ? "the configuration file" : "flags")): \(fields.joined(separator: " ")) "
              + "(exec window = first exec -> complete masks with pod labels in the kernel, last/max over the "
              + "\(ours.count) containers; negative = the masks were complete before the first exec; "
              + "complete = cgroup mkdir -> complete masks)")
    }
}
