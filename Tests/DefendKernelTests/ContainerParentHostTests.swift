import DefendEvents
import DefendPolicy
import Glibc
import Testing
@testable import DefendKernel

/// A cgroup created under a pod cgroup is a container from its mkdir on, in the kernel alone:
/// its first exec is decided as a container process before any agent has described it.
@Suite(.serialized) struct ContainerParentHostTests {
    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    @Test(.enabled(if: Host.isRoot, "needs root to load BPF programs"))
    func childOfAContainerParentIsAContainerFromItsFirstProcess() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        // exec of a process named "true" -> log; no container conditions, so an undescribed
        // container gets it (unknownContainerMask), the host does not (hostMask 0: scope containers).
        var t = KernelTables()
        t.processTelemetry = false
        t.opMask[Int(PolicyOperation.exec.rawValue)] = 1
        t.pathAnyMask = [0, 1]
        t.nameAnyMask = 0
        t.interactiveMask = [~0, ~0]
        t.unknownContainerMask = [0, 1]
        t.responses[1] = [.init(match: 1, exclude: 0, actions: .log)]
        t.pathEntries = [.init(section: .process, kind: .name, string: "true", mask: 1)]
        try sensor.apply(t)

        let pod = try #require(Host.makeCgroup("pod"))
        let plain = try #require(Host.makeCgroup("plain"))
        let child = pod.path + "/ctr", other = plain.path + "/ctr"
        defer {
            Host.removeCgroup(child); Host.removeCgroup(other)
            Host.removeCgroup(pod.path); Host.removeCgroup(plain.path)
        }
        try sensor.setContainerParent(cgroupID: pod.id)
        #expect(mkdir(child, 0o755) == 0 && mkdir(other, 0o755) == 0)
        let childID = try #require(Self.inode(child)), otherID = try #require(Self.inode(other))
        #expect(sensor.isContainer(cgroupID: childID), "the kernel adopted the pod's new child in its mkdir")
        #expect(!sensor.isContainer(cgroupID: otherID), "a child of an unmarked cgroup is not a container")
        #expect(!sensor.isContainer(cgroupID: pod.id), "the pod cgroup itself is not a container")
        // The mark propagates: a cgroup created inside the new one (a pod's container, or a container's
        // own sub-cgroup) is adopted as well, so a whole `mkdir -p` below a marked cgroup is covered.
        let nested = child + "/nested"
        #expect(mkdir(nested, 0o755) == 0)
        defer { Host.removeCgroup(nested) }
        #expect(sensor.isContainer(cgroupID: try #require(Self.inode(nested))))

        _ = Host.runShell("echo $$ > \(child)/cgroup.procs && /bin/true in-pod; exit 0")
        _ = Host.runShell("echo $$ > \(other)/cgroup.procs && /bin/true elsewhere; exit 0")
        let events = Host.collect(sensor) { evs in evs.contains { $0.exec?.task.cgroupID == childID } }
        let first = try #require(events.first { $0.exec?.task.cgroupID == childID && $0.exec?.args.last == "in-pod" })
        #expect(first.decision.actions == .log)
        #expect(first.decision.selectors == 1)
        #expect(!events.contains { $0.exec?.task.cgroupID == otherID }, "host cgroups are not evaluated")

        // A policy swap rewrites the adopted container's masks for the new generation too.
        var next = t
        next.responses[1] = [.init(match: 1, exclude: 0, actions: .alert)]
        try sensor.apply(next)
        _ = Host.runShell("echo $$ > \(child)/cgroup.procs && /bin/true after-swap; exit 0")
        let later = Host.collect(sensor) { evs in evs.contains { $0.exec?.args.last == "after-swap" } }
        let swapped = try #require(later.first { $0.exec?.args.last == "after-swap" })
        #expect(swapped.decision.actions == .alert)

        // Unmarked: new children are host cgroups again.
        try sensor.removeContainerParent(cgroupID: pod.id)
        let late = pod.path + "/late"
        #expect(mkdir(late, 0o755) == 0)
        defer { Host.removeCgroup(late) }
        #expect(!sensor.isContainer(cgroupID: try #require(Self.inode(late))))
    }
}
