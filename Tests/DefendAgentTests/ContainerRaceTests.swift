import DefendEvents
import DefendKernel
import Foundation
import Testing
@testable import DefendAgent

private let policy = """
    process:
      selectors:
        - name: catInBusybox
          operation: [exec]
          containerImageName: [busybox]
          processName: [cat]
        - name: catElsewhere
          operation: [exec]
          containerImageName: [nginx]
          processName: [cat]
      responses:
        - match: [catInBusybox, catElsewhere]
          actions: [alert]
    """

/// A container's first processes can run before the agent has handled its cgroup_mkdir record and
/// written the container's masks into the kernel: the kernel then decides them as host tasks. The
/// pipeline decides such records again with the container's description.
@Suite(.serialized) struct ContainerRaceTests {
    static let containerID = String(repeating: "ab", count: 32)
    static let cgroupID: UInt64 = 777

    private func makeAgent() throws -> (Agent, FakeSensor, MemorySink, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-race-\(UUID().uuidString)").path
        // The container's OCI bundle in a private containerd state directory (--containerd-state).
        let bundle = "\(dir)/ctr-state/io.containerd.runtime.v2.task/k8s.io/\(Self.containerID)"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try #"{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.image-name":"docker.io/library/busybox:1.36","io.kubernetes.cri.sandbox-name":"web","io.kubernetes.cri.sandbox-namespace":"shop"}}"#
            .write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        try policy.write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        var config = AgentConfiguration()
        config.policyPath = dir + "/policy.yaml"
        config.stateDirectory = dir + "/state"
        config.cloudMetadata = false
        config.containerdStateDirectories = [dir + "/ctr-state"]
        config.heartbeatInterval = 0  // only event documents in the sink
        let sensor = FakeSensor()
        let sink = MemorySink()
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: sink)
        return (agent, sensor, sink, dir)
    }

    private func exec(pid: Int32, comm: String, at bootNs: UInt64, decision: Decision = Decision()) -> KernelEvent {
        let task = TaskInfo(pid: pid, ppid: 1, startBootNs: bootNs, cgroupID: Self.cgroupID, comm: comm)
        return KernelEvent(record: .exec(ExecRecord(task: task, filename: "/bin/\(comm)", cwd: "/", args: [comm, "/etc/hostname"])),
                           hook: .sched_process_exec, decision: decision, bootTimeNs: bootNs)
    }

    @Test func recordsDecidedBeforeTheContainerWasKnownAreDecidedAgain() throws {
        let (agent, sensor, sink, dir) = try makeAgent()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mkdir = CgroupRecord(cgroupID: Self.cgroupID, level: 4,
                                 path: "/kubepods/besteffort/pod1234/\(Self.containerID)", created: true)
        let later = UInt64.max / 2  // after the registration
        sensor.pending = [
            KernelEvent(record: .cgroup(mkdir), hook: .cgroup_mkdir, bootTimeNs: 10),
            exec(pid: 100, comm: "cat", at: 20),     // raced the registration: the kernel saw a host task
            exec(pid: 101, comm: "cat", at: later),  // decided by the kernel with the container's mask: kept as is
        ]
        SignalWatcher.reset()
        #expect(agent.run() == 0)

        #expect(sensor.containers[Self.cgroupID] != nil, "the container reached the kernel map")
        let lines = sink.lines
        #expect(lines.count == 1, "only the raced exec becomes a document: \(lines)")
        let line = try #require(lines.first)
        #expect(line.contains(#""pid":100"#))
        #expect(line.contains(#""kind":"alert""#))
        #expect(line.contains(#""matched_selectors":["catInBusybox"]"#))
        #expect(line.contains(#""id":"\#(Self.containerID)""#))
        #expect(line.contains(#""name":"busybox""#))
        #expect(agent.statisticsLine().contains("redecided=1"))
    }

    @Test func rawHostRecordsAreNotDecidedAgain() throws {
        let (agent, sensor, sink, dir) = try makeAgent()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // No cgroup_mkdir for this cgroup while running: nothing is re-decided.
        sensor.pending = [exec(pid: 200, comm: "cat", at: 20)]
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        #expect(sink.lines.isEmpty)
        #expect(agent.statisticsLine().contains("redecided=0"))
    }

    @Test func aRefusalTheKernelAlreadyMadeIsReportedAsDenied() throws {
        let (agent, sensor, sink, dir) = try makeAgent()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The kernel adopted the pod's new child and refused the exec before the agent read the mkdir.
        let mkdir = CgroupRecord(cgroupID: Self.cgroupID, level: 4,
                                 path: "/kubepods/besteffort/pod1234/\(Self.containerID)", created: true)
        sensor.pending = [
            KernelEvent(record: .cgroup(mkdir), hook: .cgroup_mkdir, bootTimeNs: 10),
            exec(pid: 300, comm: "cat", at: 20,
                 decision: Decision(operation: .exec, actions: [.alert, .block], selectors: 1, denied: true)),
        ]
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        let line = try #require(sink.lines.first)
        #expect(line.contains(#""denied""#), "the refusal is not re-decided away: \(line)")
        #expect(agent.statisticsLine().contains("redecided=0"))
    }

    @Test func podCgroupsAreMarkedForTheKernel() throws {
        let (agent, sensor, _, dir) = try makeAgent()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pod = CgroupRecord(cgroupID: 900, level: 3, path: "/kubepods/besteffort/pod1234", created: true)
        let gone = CgroupRecord(cgroupID: 900, level: 3, path: "/kubepods/besteffort/pod1234", created: false)
        let other = CgroupRecord(cgroupID: 901, level: 2, path: "/system.slice/cron.service", created: true)
        sensor.pending = [KernelEvent(record: .cgroup(pod), hook: .cgroup_mkdir, bootTimeNs: 10),
                          KernelEvent(record: .cgroup(other), hook: .cgroup_mkdir, bootTimeNs: 11)]
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        // Only this test's cgroups: the agent also walked the host's real cgroup tree at start, where
        // another test's private containerd may have kubepods cgroups right now.
        let ours: Set<UInt64> = [900, 901]
        #expect(sensor.containerParents.intersection(ours) == [900])
        sensor.pending = [KernelEvent(record: .cgroup(gone), hook: .cgroup_rmdir, bootTimeNs: 12)]
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        #expect(sensor.containerParents.intersection(ours).isEmpty)
    }
}
