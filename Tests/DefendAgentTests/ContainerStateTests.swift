import DefendEvents
import DefendKernel
import DefendKubernetes
import Foundation
import Testing
@testable import DefendAgent

private let policy = """
    process:
      selectors:
        - name: anyExec
          operation: [exec]
        - name: trusted
          operation: [exec]
          kubernetesPodLabel: ["app:trusted"]
        - name: inCluster
          operation: [exec]
          kubernetesClusterId: ["cluster-uid"]
      responses:
        - match: [anyExec]
          exclude: [trusted]
          actions: [alert, block]
    """

/// The container state owner: pod metadata from the watcher (through the agent's inbox) joins a
/// container's description and rewrites its kernel masks; a label change changes the masks.
@Suite(.serialized) struct ContainerStateTests {
    static let containerID = String(repeating: "cd", count: 32)
    static let podUID = "0a1b2c3d-0000-1111-2222-333344445555"
    static let cgroupID: UInt64 = 4242

    @Test func podLabelsFromTheWatcherRewriteTheMasks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-cs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = "\(dir)/ctr-state/io.containerd.runtime.v2.task/k8s.io/\(Self.containerID)"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try #"{"annotations":{"io.kubernetes.cri.image-name":"busybox:1.36","io.kubernetes.cri.sandbox-uid":"\#(Self.podUID)"}}"#
            .write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        try policy.write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        var config = AgentConfiguration()
        config.policyPath = dir + "/policy.yaml"
        config.stateDirectory = dir + "/state"
        config.cloudMetadata = false
        config.containerdStateDirectories = [dir + "/ctr-state"]
        config.heartbeatInterval = 0
        var k = KubernetesSettings()
        k.watch = false  // the test posts the watcher's updates itself
        k.clusterName = "prod"
        config.kubernetes = k
        let sensor = FakeSensor()
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: MemorySink())
        let mkdir = CgroupRecord(cgroupID: Self.cgroupID, level: 4,
                                 path: "/kubepods/besteffort/pod\(Self.podUID)/\(Self.containerID)", created: true)
        sensor.pending = [KernelEvent(record: .cgroup(mkdir), hook: .cgroup_mkdir, bootTimeNs: 10)]
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        // bit 0 anyExec; bit 1 trusted; bit 2 inCluster
        #expect(sensor.containers[Self.cgroupID]?.process == 0b001, "no pod known: not trusted, cluster unknown")

        agent.inbox.post(.kubernetes(.clusterID("cluster-uid")))
        agent.inbox.post(.kubernetes(.pod(PodMetadata(uid: Self.podUID, name: "web", namespace: "shop",
                                                      labels: ["app": "trusted"]))))
        agent.drainInbox()
        #expect(sensor.containers[Self.cgroupID]?.process == 0b111, "labelled and in the cluster")

        agent.inbox.post(.kubernetes(.pod(PodMetadata(uid: Self.podUID, name: "web", namespace: "shop", labels: [:]))))
        agent.drainInbox()
        #expect(sensor.containers[Self.cgroupID]?.process == 0b101, "label removed: the exclude no longer applies")

        agent.inbox.post(.kubernetes(.podDeleted(uid: Self.podUID)))
        agent.drainInbox()
        #expect(sensor.containers[Self.cgroupID]?.process == 0b101, "pod gone: not trusted")
    }

    @Test func inboxIsBoundedAndReportsOverflow() {
        let inbox = AgentInbox(capacity: 2)
        #expect(inbox.post(.kubernetes(.podsSynced)))
        #expect(inbox.post(.kubernetes(.podsSynced)))
        #expect(!inbox.post(.kubernetes(.podsSynced)))
        let (messages, overflowed) = inbox.take()
        #expect(messages.count == 2 && overflowed && inbox.dropped == 1)
        #expect(!inbox.take().overflowed)
    }
}
