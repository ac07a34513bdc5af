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

    /// Review finding (#9): a policy swap used to write the container masks before the new policy value,
    /// so a pod's container cgroup created during the swap got stale masks. The new generation's policy
    /// value (with its undescribed-container masks) now goes in first: a container the kernel adopted
    /// before the swap is rewritten for the new generation, and one adopted after it copies the new
    /// generation's masks. The exact interleaving cannot be forced from user space; both sides are checked.
    @Test(.enabled(if: Host.isRoot, "needs root to load BPF programs"))
    func aSwapGivesAdoptedContainersTheNewGenerationsUndescribedMasks() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        // Two selectors on exec of "true": bit 0 logs, bit 1 alerts. Undescribed containers get bit 0 (log).
        var t = KernelTables()
        t.processTelemetry = false
        t.opMask[Int(PolicyOperation.exec.rawValue)] = 0b11
        t.pathAnyMask = [0, 0b11]
        t.nameAnyMask = 0
        t.interactiveMask = [~0, ~0]
        t.unknownContainerMask = [0, 0b01]
        t.responses[1] = [.init(match: 0b01, exclude: 0, actions: .log), .init(match: 0b10, exclude: 0, actions: .alert)]
        t.pathEntries = [.init(section: .process, kind: .name, string: "true", mask: 0b11)]
        try sensor.apply(t)

        let pod = try #require(Host.makeCgroup("swap-pod"))
        let before = pod.path + "/before", after = pod.path + "/after"
        defer { Host.removeCgroup(before); Host.removeCgroup(after); Host.removeCgroup(pod.path) }
        try sensor.setContainerParent(cgroupID: pod.id)
        #expect(mkdir(before, 0o755) == 0)
        let beforeID = try #require(Self.inode(before))
        _ = Host.runShell("echo $$ > \(before)/cgroup.procs && /bin/true swap-1; exit 0")
        let first = Host.collect(sensor) { evs in evs.contains { $0.exec?.args.last == "swap-1" } }
        #expect(first.first { $0.exec?.args.last == "swap-1" }?.decision.actions == .log)

        // The new policy: undescribed containers get bit 1 (alert) instead. No container masks are
        // passed: the agent has described neither cgroup.
        var next = t
        next.unknownContainerMask = [0, 0b10]
        try sensor.apply(next)
        #expect(mkdir(after, 0o755) == 0)
        let afterID = try #require(Self.inode(after))
        #expect(sensor.isContainer(cgroupID: afterID))
        _ = Host.runShell("echo $$ > \(before)/cgroup.procs && /bin/true swap-2; exit 0")
        _ = Host.runShell("echo $$ > \(after)/cgroup.procs && /bin/true swap-3; exit 0")
        let later = Host.collect(sensor) { evs in
            evs.contains { $0.exec?.args.last == "swap-2" } && evs.contains { $0.exec?.args.last == "swap-3" }
        }
        let adoptedBefore = try #require(later.first { $0.exec?.args.last == "swap-2" })
        let adoptedAfter = try #require(later.first { $0.exec?.args.last == "swap-3" })
        #expect(adoptedBefore.exec?.task.cgroupID == beforeID && adoptedAfter.exec?.task.cgroupID == afterID)
        #expect(adoptedBefore.decision.actions == .alert, "adopted before the swap: the new generation's masks")
        #expect(adoptedAfter.decision.actions == .alert, "adopted after the swap: the new generation's masks")
        #expect(adoptedAfter.decision.generation == sensor.activeGeneration)
    }
}
