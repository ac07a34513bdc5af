import DefendEnrich
import DefendEvents
import DefendKernel
import DefendPolicy
import DefendTelemetry
import Foundation
import Testing
@testable import DefendAgent

private let policy = """
    process:
      selectors:
        - name: anyExec
          operation: [exec]
        - name: busybox
          operation: [exec]
          containerImageName: [busybox]
      responses:
        - match: [anyExec, busybox]
          actions: [log]
    """

/// The review findings of issue #9 that `ContainerState` closes, each checked: a container whose
/// `cgroup_mkdir` record was lost is described (from its first event, by the cgroup walk at start, by
/// the retry once its runtime state appears); a failed container-map write or delete is counted and
/// logged, never hidden; runtime state that cannot be read is logged. (The policy-value-before-masks
/// order of a swap is checked on the kernel: `ContainerParentHostTests`.)
///
/// A temporary directory stands in for the cgroup v2 root (directories with inodes, as cgroups are).
@Suite(.serialized) struct ContainerStateReviewTests {
    static let podUID = "5e1f0000-aaaa-bbbb-cccc-ddddeeeeffff"

    struct Fixture {
        let dir: String
        let cgroupRoot: String
        let containerdState: String
        let sensor = FakeSensor()
        let state: ContainerState

        init(containerdRoots: [String]? = nil) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-csr-\(UUID().uuidString)").path
            cgroupRoot = dir + "/cgroup"
            containerdState = dir + "/ctr-state"
            try FileManager.default.createDirectory(atPath: cgroupRoot, withIntermediateDirectories: true)
            let locator = BundleLocator(containerdRoots: containerdRoots ?? [BundleLocator.containerdTaskRoot(stateDirectory: containerdState)],
                                        crioRoots: [], dockerRoots: [])
            let registry = ContainerRegistry(locator: locator, cgroupRoot: cgroupRoot)
            let loaded = try PolicyLoader.parse(yaml: policy, fileName: "policy.yaml")
            state = ContainerState(registry: registry, sensor: sensor, policy: CompiledPolicy(loaded.policy, scope: .containers))
        }

        /// A container cgroup directory (as runc makes it); returns (cgroup id, path relative to the root).
        func makeContainerCgroup(_ id: String) throws -> (UInt64, String) {
            let rel = "/kubepods/besteffort/pod\(ContainerStateReviewTests.podUID)/\(id)"
            try FileManager.default.createDirectory(atPath: cgroupRoot + rel, withIntermediateDirectories: true)
            var st = stat()
            try #require(stat(cgroupRoot + rel, &st) == 0)
            return (UInt64(st.st_ino), rel)
        }

        /// The container's OCI bundle in containerd's state (what the runtime writes before starting it).
        func writeBundle(_ id: String) throws {
            let bundle = "\(containerdState)/io.containerd.runtime.v2.task/k8s.io/\(id)"
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            try #"{"annotations":{"io.kubernetes.cri.image-name":"docker.io/library/busybox:1.36","io.kubernetes.cri.sandbox-uid":"\#(ContainerStateReviewTests.podUID)"}}"#
                .write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func containerID() -> String { (UUID().uuidString + UUID().uuidString).lowercased().filter { $0 != "-" } }

    /// Diagnostics written while `body` runs (the process-wide log settings point at a file meanwhile).
    static func capturingLog(_ body: () throws -> Void) rethrows -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("defend-log-\(UUID().uuidString)").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let saved = DiagnosticLogging.current
        var capture = saved
        capture.fd = fd
        capture.level = .debug
        DiagnosticLogging.configure(capture)
        defer {
            DiagnosticLogging.configure(saved)
            close(fd)
            unlink(path)
        }
        try body()
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    // bit 0 anyExec, bit 1 busybox
    @Test func aContainerWhoseMkdirRecordWasLostIsDescribedFromItsFirstEvent() throws {
        let f = try Fixture()
        defer { f.remove() }
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        let (cgroup, _) = try f.makeContainerCgroup(id)
        try f.writeBundle(id)
        // No cgroup_mkdir record ever arrives (lost to a full ring); the container's first event does.
        #expect(f.sensor.containers[cgroup] == nil)
        let context = try #require(f.state.context(forCgroupID: cgroup), "judged as a host process")
        #expect(context.id == id && context.imageName == "busybox")
        #expect(f.sensor.containers[cgroup]?.process == 0b11, "its masks (with the image) are in the kernel")
        #expect(f.state.statistics.lateRegistrations == 1)
        #expect(f.state.maskedTime(cgroupID: cgroup) != nil, "records decided before now are decided again")
        // Asked again: no second registration or write.
        let writes = f.state.statistics.maskWrites
        _ = f.state.context(forCgroupID: cgroup)
        #expect(f.state.statistics.lateRegistrations == 1 && f.state.statistics.maskWrites == writes)
    }

    @Test func containersOlderThanTheAgentAreFoundByTheCgroupWalk() throws {
        let f = try Fixture()
        defer { f.remove() }
        let id = Self.containerID()
        let (cgroup, _) = try f.makeContainerCgroup(id)
        try f.writeBundle(id)
        f.state.seed()
        try f.state.install(f.state.policy)
        #expect(f.sensor.containers[cgroup]?.process == 0b11)
        #expect(f.state.statistics.lateRegistrations == 0)
    }

    @Test func aContainerDescribedLaterGetsItsMasksRewrittenByTheRetry() throws {
        let f = try Fixture()
        defer { f.remove() }
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        let (cgroup, rel) = try f.makeContainerCgroup(id)
        // The mkdir record arrives before the runtime has written the container's state.
        f.state.cgroupRecord(CgroupRecord(cgroupID: cgroup, level: 4, path: rel, created: true), bootTimeNs: 1)
        #expect(f.sensor.containers[cgroup]?.process == 0b01, "image unknown yet")
        try f.writeBundle(id)
        f.state.retry()
        #expect(f.sensor.containers[cgroup]?.process == 0b11, "described later: the image selector applies")
        #expect(f.state.statistics.completed == 1)
    }

    @Test func containerMapWriteAndDeleteFailuresAreCountedAndLogged() throws {
        let f = try Fixture()
        defer { f.remove() }
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        let (cgroup, rel) = try f.makeContainerCgroup(id)
        try f.writeBundle(id)
        f.sensor.failContainerWrites = true
        let log = Self.capturingLog {
            f.state.cgroupRecord(CgroupRecord(cgroupID: cgroup, level: 4, path: rel, created: true), bootTimeNs: 1)
            f.state.cgroupRecord(CgroupRecord(cgroupID: cgroup, level: 4, path: rel, created: false), bootTimeNs: 2)
        }
        #expect(f.state.statistics.writeErrors == 2, "one failed write, one failed delete")
        #expect(log.contains("cannot describe container \(id) (cgroup \(cgroup)) to the kernel"), "log: \(log)")
        #expect(log.contains("cannot remove cgroup \(cgroup) from the kernel's containers"), "log: \(log)")
    }

    /// No `try?` (or `_ = try?`) swallows a container-map write or delete anywhere on the way to the kernel.
    @Test func noContainerMapDeleteIsHiddenByTryQuestionMark() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for file in ["Sources/DefendKernel/Sensor.swift", "Sources/DefendAgent/ContainerState.swift",
                     "Sources/DefendAgent/Agent.swift", "Sources/DefendAgent/EventPipeline.swift"] {
            let text = try String(contentsOfFile: root.appendingPathComponent(file).path, encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.contains("try?") {
                let l = line.lowercased()
                #expect(!(l.contains("delete") || l.contains("removecontainer") || l.contains("setcontainer")
                          || l.contains("containersmap") || l.contains("containerparent")),
                        "\(file):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
    }

    @Test func unreadableRuntimeStateIsLogged() throws {
        let f = try Fixture(containerdRoots: ["/nonexistent/defend-test/io.containerd.runtime.v2.task"])
        defer { f.remove() }
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        let (cgroup, rel) = try f.makeContainerCgroup(id)
        let log = Self.capturingLog {
            // At start: not one place the runtime keeps its state can be read (a missing DaemonSet mount).
            Agent.checkRuntimeState(f.state.registry.locator)
            // Then a container: its state is looked for (mkdir, then the retries) and given up on, loudly.
            f.state.cgroupRecord(CgroupRecord(cgroupID: cgroup, level: 4, path: rel, created: true), bootTimeNs: 1)
            for _ in 0..<5 { f.state.retry() }
        }
        #expect(log.contains("warning"), "log: \(log)")
        #expect(log.contains("no container runtime state is readable (looked in /nonexistent/defend-test/io.containerd.runtime.v2.task)"),
                "log: \(log)")
        #expect(log.contains("container \(id) (kubernetes): no runtime state found under /nonexistent/defend-test"), "log: \(log)")
        #expect(f.state.registry.undescribable == 1)
        #expect(f.sensor.containers[cgroup]?.process == 0b01, "still a container (not a host process), without image")
    }

    /// The start window (#9): from a container's first exec to its complete masks in the kernel.
    @Test func startWindowIsMeasuredFromTheFirstExecToTheCompleteMasks() throws {
        let f = try Fixture()
        defer { f.remove() }
        try f.state.install(f.state.policy)
        var clock: UInt64 = 1_000
        f.state.now = { clock }
        // Runtime state late: the first exec (at 2 µs) runs before the masks are complete (at 5 µs).
        let late = Self.containerID()
        let (lateCgroup, lateRel) = try f.makeContainerCgroup(late)
        f.state.cgroupRecord(CgroupRecord(cgroupID: lateCgroup, level: 4, path: lateRel, created: true), bootTimeNs: 1_000)
        f.state.noteExec(cgroupID: lateCgroup, bootNs: 2_000)
        f.state.noteExec(cgroupID: lateCgroup, bootNs: 3_000)  // not the first
        try f.writeBundle(late)
        clock = 5_000
        f.state.retry()
        #expect(f.state.statistics.startWindows == 1)
        #expect(f.state.statistics.lastStartWindowNs == 3_000)
        // Runtime state there at mkdir: complete at 10 µs, first exec at 12 µs: the window is -2 µs.
        let ready = Self.containerID()
        let (readyCgroup, readyRel) = try f.makeContainerCgroup(ready)
        try f.writeBundle(ready)
        clock = 10_000
        f.state.cgroupRecord(CgroupRecord(cgroupID: readyCgroup, level: 4, path: readyRel, created: true), bootTimeNs: 9_000)
        f.state.noteExec(cgroupID: readyCgroup, bootNs: 12_000)
        #expect(f.state.statistics.startWindows == 2)
        #expect(f.state.statistics.lastStartWindowNs == -2_000)
        #expect(f.state.statistics.maxStartWindowNs == 3_000)
        // A container older than the agent (no mkdir record seen) has no window.
        f.state.noteExec(cgroupID: 999_999, bootNs: 20_000)
        #expect(f.state.statistics.startWindows == 2)
        #expect(Agent.ms(signed: -2_500_000) == "-2.5" && Agent.ms(signed: 3_000_000) == "3.0")
    }
}
