import DefendEnrich
import DefendEvents
import DefendKernel
import DefendKubernetes
import DefendPolicy
import Foundation
import Testing
@testable import DefendAgent

/// `ContainerState` alone writes the kernel's `volume_mounts`: each container's volume roots from its
/// OCI spec (and pod spec) once the spec is read, shared roots counted across containers, removed
/// with the last container; failures counted and logged.
@Suite(.serialized) struct VolumeMountStateTests {
    static let podUID = "9a9a0000-1111-2222-3333-444455556666"

    final class Fixture {
        let dir: String
        let cgroupRoot: String
        let containerdState: String
        let kubelet: String
        let sensor = FakeSensor()
        let state: ContainerState

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-vms-\(UUID().uuidString)").path
            cgroupRoot = dir + "/cgroup"
            containerdState = dir + "/ctr-state"
            kubelet = dir + "/kubelet/pods/\(VolumeMountStateTests.podUID)"
            for d in [cgroupRoot, kubelet + "/volumes/kubernetes.io~configmap/cfg", kubelet + "/volumes/kubernetes.io~empty-dir/cache",
                      dir + "/host/data"] {
                try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            }
            try "x".write(toFile: kubelet + "/etc-hosts", atomically: false, encoding: .utf8)
            let locator = BundleLocator(containerdRoots: [BundleLocator.containerdTaskRoot(stateDirectory: containerdState)],
                                        crioRoots: [], dockerRoots: [])
            let registry = ContainerRegistry(locator: locator, cgroupRoot: cgroupRoot)
            let loaded = try PolicyLoader.parse(yaml: "file:\n  selectors:\n    - name: drift\n      operation: [createExecutable]\n      ignoreVolumeMounts: true\n  responses:\n    - match: [drift]\n      actions: [alert]\n", fileName: "policy.yaml")
            state = ContainerState(registry: registry, sensor: sensor, policy: CompiledPolicy(loaded.policy, scope: .containers))
            state.statSource = MountSourceStat.read  // the test's own paths (not through /proc/1/root)
        }

        func cgroup(_ id: String) throws -> CgroupRecord {
            let rel = "/kubepods/besteffort/pod\(VolumeMountStateTests.podUID)/\(id)"
            try FileManager.default.createDirectory(atPath: cgroupRoot + rel, withIntermediateDirectories: true)
            var st = stat()
            try #require(stat(cgroupRoot + rel, &st) == 0)
            return CgroupRecord(cgroupID: UInt64(st.st_ino), level: 4, path: rel, created: true)
        }

        func bundle(_ id: String, mounts: [(String, String)]) throws {
            let b = "\(containerdState)/io.containerd.runtime.v2.task/k8s.io/\(id)"
            try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: true)
            let m = mounts.map { #"{"destination":"\#($0.0)","type":"bind","source":"\#($0.1)","options":["rbind","rw"]}"# }
            let json = #"{"annotations":{"io.kubernetes.cri.sandbox-uid":"\#(VolumeMountStateTests.podUID)"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"},\#(m.joined(separator: ","))]}"#
            try json.write(toFile: b + "/config.json", atomically: true, encoding: .utf8)
        }

        func key(_ path: String) throws -> VolumeMountKey { try #require(MountSourceStat.read(path)).key }
        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func containerID() -> String { (UUID().uuidString + UUID().uuidString).lowercased().filter { $0 != "-" } }

    @Test func volumesOfAContainerReachTheKernelAndGoWithIt() throws {
        let f = try Fixture()
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        try f.bundle(id, mounts: [("/etc/cfg", f.kubelet + "/volumes/kubernetes.io~configmap/cfg"),
                                  ("/cache", f.kubelet + "/volumes/kubernetes.io~empty-dir/cache"),
                                  ("/etc/hosts", f.kubelet + "/etc-hosts"),
                                  ("/dev/shm", f.dir + "/host/data")])
        let rec = try f.cgroup(id)
        f.state.cgroupRecord(rec, bootTimeNs: 1)
        let cfg = try f.key(f.kubelet + "/volumes/kubernetes.io~configmap/cfg")
        let cache = try f.key(f.kubelet + "/volumes/kubernetes.io~empty-dir/cache")
        let hosts = try f.key(f.kubelet + "/etc-hosts")
        #expect(f.sensor.volumeMounts == [cfg: .file, cache: .volume, hosts: .file],
                "the runtime's /dev/shm is no volume, whatever its source")
        #expect(f.state.volumeMountCount == 3)

        // Rewrites with the same inputs write nothing again.
        let writes = f.sensor.volumeWrites
        f.state.apply(.pod(PodMetadata(uid: Self.podUID, name: "p", namespace: "n", labels: ["a": "b"])))
        #expect(f.sensor.volumeWrites == writes, "the pod arrived (no volumes listed): the same volumes, no write")

        f.state.cgroupRecord(CgroupRecord(cgroupID: rec.cgroupID, level: 4, path: rec.path, created: false), bootTimeNs: 2)
        #expect(f.sensor.volumeMounts.isEmpty, "the container's last cgroup went: its volume roots go")
        #expect(f.state.volumeMountCount == 0)
    }

    @Test func sharedRootsAreCountedAndMergedConservatively() throws {
        let f = try Fixture()
        try f.state.install(f.state.policy)
        let a = Self.containerID(), b = Self.containerID()
        // The same host directory: a plain bind (a volume) for one, and for the other too.
        try f.bundle(a, mounts: [("/cache", f.kubelet + "/volumes/kubernetes.io~empty-dir/cache"),
                                 ("/cfg", f.kubelet + "/volumes/kubernetes.io~configmap/cfg")])
        try f.bundle(b, mounts: [("/cache", f.kubelet + "/volumes/kubernetes.io~empty-dir/cache"),
                                 ("/cfg", f.kubelet + "/volumes/kubernetes.io~configmap/cfg"),
                                 ("/also-cfg-as-bind", f.dir + "/host/data")])
        let ra = try f.cgroup(a), rb = try f.cgroup(b)
        f.state.cgroupRecord(ra, bootTimeNs: 1)
        f.state.cgroupRecord(rb, bootTimeNs: 1)
        let cache = try f.key(f.kubelet + "/volumes/kubernetes.io~empty-dir/cache")
        let cfg = try f.key(f.kubelet + "/volumes/kubernetes.io~configmap/cfg")
        let data = try f.key(f.dir + "/host/data")
        #expect(f.sensor.volumeMounts == [cache: .volume, cfg: .file, data: .volume])
        f.state.cgroupRecord(CgroupRecord(cgroupID: ra.cgroupID, level: 4, path: ra.path, created: false), bootTimeNs: 2)
        #expect(f.sensor.volumeMounts == [cache: .volume, cfg: .file, data: .volume], "b still mounts them")
        f.state.cgroupRecord(CgroupRecord(cgroupID: rb.cgroupID, level: 4, path: rb.path, created: false), bootTimeNs: 3)
        #expect(f.sensor.volumeMounts.isEmpty)
    }

    @Test func aFileMountSharedWithAVolumeIsAVolume() throws {
        let f = try Fixture()
        try f.state.install(f.state.policy)
        let a = Self.containerID(), b = Self.containerID()
        let src = f.kubelet + "/volumes/kubernetes.io~configmap/cfg"
        try f.bundle(a, mounts: [("/cfg", src)])
        // b reaches the same root through a plain bind of another name: it is no kubelet path there
        let link = f.dir + "/host/cfg-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: src)
        try f.bundle(b, mounts: [("/cfg", link)])
        let ra = try f.cgroup(a), rb = try f.cgroup(b)
        f.state.cgroupRecord(ra, bootTimeNs: 1)
        let key = try f.key(src)
        #expect(f.sensor.volumeMounts == [key: .file])
        f.state.cgroupRecord(rb, bootTimeNs: 1)
        #expect(f.sensor.volumeMounts == [key: .volume], "one holder says volume: fewer selectors ignore it")
        f.state.cgroupRecord(CgroupRecord(cgroupID: rb.cgroupID, level: 4, path: rb.path, created: false), bootTimeNs: 2)
        #expect(f.sensor.volumeMounts == [key: .file], "back to the remaining holder's kind")
    }

    @Test func beforeTheSpecIsReadNothingIsAVolume() throws {
        let f = try Fixture()
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        let rec = try f.cgroup(id)
        f.state.cgroupRecord(rec, bootTimeNs: 1)  // no bundle yet
        #expect(f.sensor.volumeMounts.isEmpty)
        try f.bundle(id, mounts: [("/cache", f.kubelet + "/volumes/kubernetes.io~empty-dir/cache")])
        f.state.retry()
        #expect(f.sensor.volumeMounts.count == 1, "the spec read by the retry: its volume is in")
    }

    @Test func containersBeforeTheAgentGetTheirVolumesAtInstall() throws {
        let f = try Fixture()
        let id = Self.containerID()
        try f.bundle(id, mounts: [("/cache", f.kubelet + "/volumes/kubernetes.io~empty-dir/cache")])
        _ = try f.cgroup(id)
        f.state.seed()
        #expect(f.sensor.volumeMounts.isEmpty)
        try f.state.install(f.state.policy)
        #expect(f.sensor.volumeMounts.values.elementsEqual([.volume]))
    }

    @Test func failuresAreCountedAndLogged() throws {
        let f = try Fixture()
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        try f.bundle(id, mounts: [("/cache", f.kubelet + "/volumes/kubernetes.io~empty-dir/cache"),
                                  ("/gone", f.dir + "/host/missing")])
        f.sensor.failVolumeWrites = true
        let rec = try f.cgroup(id)
        let log = ContainerStateReviewTests.capturingLog { f.state.cgroupRecord(rec, bootTimeNs: 1) }
        #expect(f.state.statistics.volumeWriteErrors == 1 && f.state.statistics.writeErrors >= 1)
        #expect(f.state.statistics.volumeSourceErrors == 1)
        #expect(log.contains("cannot mark the mount root") && log.contains("cannot stat the source"))
        #expect(f.sensor.volumeMounts.isEmpty)
        // The next write of the container (its source still missing: classified again) succeeds.
        f.sensor.failVolumeWrites = false
        f.state.apply(.pod(PodMetadata(uid: Self.podUID, name: "p", namespace: "n")))
        #expect(f.sensor.volumeMounts.count == 1)
    }

    @Test func subPathKindsFollowThePodSpec() throws {
        let f = try Fixture()
        try f.state.install(f.state.policy)
        let id = Self.containerID()
        let sub = f.kubelet + "/volume-subpaths/cfg/web/0"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        try f.bundle(id, mounts: [("/etc/app", sub)])
        f.state.cgroupRecord(try f.cgroup(id), bootTimeNs: 1)
        let key = try f.key(sub)
        #expect(f.sensor.volumeMounts == [key: .volume], "a directory subPath of a volume not known yet")
        var pod = PodMetadata(uid: Self.podUID, name: "p", namespace: "n")
        pod.volumes = [.init(name: "cfg", type: "configMap")]
        f.state.apply(.pod(pod))
        #expect(f.sensor.volumeMounts == [key: .file], "the pod says cfg is a configMap: a file volume")
    }
}
