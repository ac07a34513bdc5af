import DefendEvents
import Foundation
import Glibc
import Testing
@testable import DefendEnrich

/// Volume conditions by mount: which mounts of a container's OCI spec (and pod spec) are volumes and
/// file mounts, and the kernel identity of their roots.
struct VolumeMountTests {
    static let pod = "7d0c7a8e-1111-2222-3333-444455556666"
    static let kubelet = "/var/lib/kubelet/pods/\(pod)"

    /// A config.json as containerd's CRI plugin writes it for a kubelet pod container (trimmed).
    static let kubeletConfig = """
        {"ociVersion":"1.2.0","annotations":{"io.kubernetes.cri.container-type":"container",
          "io.kubernetes.cri.sandbox-uid":"\(pod)","io.kubernetes.cri.image-name":"docker.io/library/nginx:1.27"},
         "mounts":[
          {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
          {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
          {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance"]},
          {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
          {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
          {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]},
          {"destination":"/etc/config","type":"bind","source":"\(kubelet)/volumes/kubernetes.io~configmap/app-config","options":["rbind","rprivate","ro"]},
          {"destination":"/var/run/secrets/kubernetes.io/serviceaccount","type":"bind","source":"\(kubelet)/volumes/kubernetes.io~projected/kube-api-access-x7k2p","options":["rbind","rprivate","ro"]},
          {"destination":"/etc/tls","type":"bind","source":"\(kubelet)/volumes/kubernetes.io~secret/tls","options":["rbind","rprivate","ro"]},
          {"destination":"/etc/podinfo","type":"bind","source":"\(kubelet)/volumes/kubernetes.io~downward-api/podinfo","options":["rbind","rprivate","ro"]},
          {"destination":"/cache","type":"bind","source":"\(kubelet)/volumes/kubernetes.io~empty-dir/cache","options":["rbind","rprivate","rw"]},
          {"destination":"/data","type":"bind","source":"\(kubelet)/volumes/kubernetes.io~csi/pvc-0a1b/mount","options":["rbind","rprivate","rw"]},
          {"destination":"/etc/nginx/nginx.conf","type":"bind","source":"\(kubelet)/volume-subpaths/app-config/web/0","options":["rbind","rprivate","ro"]},
          {"destination":"/var/log/app.log","type":"bind","source":"\(kubelet)/volume-subpaths/cache/web/1","options":["rbind","rprivate","rw"]},
          {"destination":"/host/logs","type":"bind","source":"/var/log/pods","options":["rbind","rprivate","rw"]},
          {"destination":"/etc/hosts","type":"bind","source":"\(kubelet)/etc-hosts","options":["rbind","rprivate","rw"]},
          {"destination":"/dev/termination-log","type":"bind","source":"\(kubelet)/containers/web/1a2b3c4d","options":["rbind","rprivate","rw"]},
          {"destination":"/etc/hostname","type":"bind","source":"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5f5f/hostname","options":["rbind","rprivate","rw"]},
          {"destination":"/etc/resolv.conf","type":"bind","source":"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/5f5f/resolv.conf","options":["rbind","rprivate","rw"]},
          {"destination":"/dev/shm","type":"bind","source":"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/5f5f/shm","options":["rbind","rprivate","rw"]}
         ]}
        """

    /// A stat(2) stand-in: every source exists; files by their names, a distinct inode each.
    static func fakeStat(files: Set<String> = [], missing: Set<String> = []) -> (String) -> MountSourceStat? {
        { path in
            if missing.contains(path) { return nil }
            let isFile = files.contains(path) || path.hasSuffix("etc-hosts") || path.hasSuffix("hostname")
                || path.hasSuffix("resolv.conf") || path.contains("/containers/")
            return MountSourceStat(type: isFile ? .regular : .directory,
                                   key: VolumeMountKey(device: 8 << 20 | 1, inode: FNVish.hash(path)))
        }
    }

    static func kinds(_ c: [VolumeClassifier.Classified]) -> [String: VolumeKind?] {
        Dictionary(c.map { ($0.mount.destination, $0.kind) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func theSpecsMountsAreRead() throws {
        let d = try #require(BundleLocator.parseOCIConfig(Data(Self.kubeletConfig.utf8), id: "c1"))
        #expect(d.mounts.count == 20)
        #expect(d.mounts[0] == OCIMount(destination: "/proc", source: "proc", type: "proc", options: ["nosuid", "noexec", "nodev"]))
        #expect(d.mounts[6].isBind && !d.mounts[0].isBind && !d.mounts[1].isBind)
        #expect(d.podUID == Self.pod, "annotations are still read")
        let none = try #require(BundleLocator.parseOCIConfig(Data(#"{"annotations":{}}"#.utf8), id: "c2"))
        #expect(none.mounts.isEmpty)
    }

    @Test func kubeletMountsWithoutThePodSpec() throws {
        let d = try #require(BundleLocator.parseOCIConfig(Data(Self.kubeletConfig.utf8), id: "c1"))
        let stat = Self.fakeStat(files: ["\(Self.kubelet)/volume-subpaths/app-config/web/0",
                                         "\(Self.kubelet)/volume-subpaths/cache/web/1"])
        let k = Self.kinds(VolumeClassifier.classify(d.mounts, pod: nil, stat: stat))
        for runtime in ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/dev/shm"] {
            #expect(k[runtime] == .some(nil), "\(runtime) is a runtime mount, no volume")
        }
        for file in ["/etc/config", "/var/run/secrets/kubernetes.io/serviceaccount", "/etc/tls", "/etc/podinfo"] {
            #expect(k[file] == .some(.file), "\(file): configMap/projected/secret/downwardAPI are file volumes")
        }
        #expect(k["/cache"] == .some(.volume) && k["/data"] == .some(.volume))
        for file in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/termination-log"] {
            #expect(k[file] == .some(.file), "\(file) is a mounted file")
        }
        // subPaths without the pod spec: by what the source is (both are files here)
        #expect(k["/etc/nginx/nginx.conf"] == .some(.file) && k["/var/log/app.log"] == .some(.file))
        #expect(k["/host/logs"] == .some(.volume), "a hostPath while the pod spec is unknown: a bind mount, a volume")
    }

    @Test func kubeletMountsWithThePodSpec() throws {
        let d = try #require(BundleLocator.parseOCIConfig(Data(Self.kubeletConfig.utf8), id: "c1"))
        let pod = [PodVolume(name: "app-config", type: "configMap"), PodVolume(name: "cache", type: "emptyDir"),
                   PodVolume(name: "logs", type: "hostPath", hostPath: "/var/log/pods/")]
        // the subPath of the configMap is a directory here, that of the emptyDir too
        let c = VolumeClassifier.classify(d.mounts, pod: pod, stat: Self.fakeStat())
        let k = Self.kinds(c)
        #expect(k["/etc/nginx/nginx.conf"] == .some(.file), "a subPath of a configMap is a file volume, whatever it is")
        #expect(c.first { $0.mount.destination == "/etc/nginx/nginx.conf" }?.reason == .subPathFileVolume)
        #expect(k["/var/log/app.log"] == .some(.volume), "a directory subPath of an emptyDir is a volume")
        #expect(k["/host/logs"] == .some(.volume))
        #expect(c.first { $0.mount.destination == "/host/logs" }?.reason == .hostPath)
        #expect(k["/dev/shm"] == .some(nil) && k["/etc/hosts"] == .some(.file))
        #expect(k["/etc/config"] == .some(.file) && k["/cache"] == .some(.volume))

        // A bind of a source that no volume of the pod names is the runtime's: no volume.
        let extra = OCIMount(destination: "/opt/x", source: "/run/runtime/something")
        #expect(VolumeClassifier.classify(extra, pod: pod, stat: Self.fakeStat()).kind == nil)
        #expect(VolumeClassifier.classify(extra, pod: nil, stat: Self.fakeStat()).kind == .volume)
        // A file hostPath is a file mount.
        let file = OCIMount(destination: "/etc/app.conf", source: "/etc/host-app.conf")
        let hp = [PodVolume(name: "conf", type: "hostPath", hostPath: "/etc/host-app.conf")]
        #expect(VolumeClassifier.classify(file, pod: hp, stat: Self.fakeStat(files: ["/etc/host-app.conf"])).kind == .file)
    }

    @Test func plainRuntimeBindMounts() {
        let stat = Self.fakeStat(files: ["/srv/app.conf"])
        // docker run -v /srv/data:/data -v /srv/app.conf:/app.conf --tmpfs /scratch, ctr run --mount
        #expect(VolumeClassifier.classify(OCIMount(destination: "/data", source: "/srv/data", type: "bind",
                                                   options: ["rbind", "rprivate"]), pod: nil, stat: stat).kind == .volume)
        #expect(VolumeClassifier.classify(OCIMount(destination: "/app.conf", source: "/srv/app.conf", type: "none",
                                                   options: ["bind", "ro"]), pod: nil, stat: stat).kind == .file,
                "type none with the bind option is a bind mount")
        #expect(VolumeClassifier.classify(OCIMount(destination: "/scratch", source: "tmpfs", type: "tmpfs",
                                                   options: ["nosuid"]), pod: nil, stat: stat).kind == nil)
        #expect(VolumeClassifier.classify(OCIMount(destination: "/dev/shm", source: "/var/lib/docker/containers/x/mounts/shm"),
                                          pod: nil, stat: stat).kind == nil)
        #expect(VolumeClassifier.classify(OCIMount(destination: "/dev/null", source: "/dev/null"), pod: nil, stat: stat).kind == nil,
                "a device bind (rootless) is the runtime's")
        #expect(VolumeClassifier.classify(OCIMount(destination: "/etc/resolv.conf", source: "/var/lib/docker/containers/x/resolv.conf"),
                                          pod: nil, stat: stat).kind == .file)
        let gone = VolumeClassifier.classify(OCIMount(destination: "/data", source: "/srv/gone"), pod: nil,
                                             stat: Self.fakeStat(missing: ["/srv/gone"]))
        #expect(gone.kind == nil && gone.reason == .noSource && gone.key == nil)
    }

    @Test func kubeletLayoutsAreFoundUnderAnyRootDirectory() {
        typealias P = VolumeClassifier.KubeletPath
        #expect(VolumeClassifier.kubeletPath("/var/snap/microk8s/common/var/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~secret/s")
                == P.volume(plugin: "kubernetes.io~secret"))
        #expect(VolumeClassifier.kubeletPath("/var/lib/k0s/kubelet/pods/\(Self.pod)/volume-subpaths/v/c/0") == P.subPath(volume: "v"))
        #expect(VolumeClassifier.kubeletPath("/var/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~empty-dir/x/sub")
                == P.volume(plugin: "kubernetes.io~empty-dir"))
        #expect(VolumeClassifier.kubeletPath("/var/lib/kubelet/pods/not-a-uid/volumes/kubernetes.io~secret/s") == nil)
        #expect(VolumeClassifier.kubeletPath("/var/lib/kubelet/pods/\(Self.pod)/volumes") == nil)
        #expect(VolumeClassifier.kubeletPath("/srv/pods/\(Self.pod)/plugins/x") == nil)
        #expect(VolumeClassifier.classify(OCIMount(destination: "/x", source: "/var/lib/kubelet/pods/\(Self.pod)/volumes/kubernetes.io~configmap/c/"),
                                          pod: nil, stat: Self.fakeStat()).kind == .file, "a trailing slash")
    }

    @Test func kernelDeviceEncoding() {
        func glibc(_ major: UInt64, _ minor: UInt64) -> UInt64 {
            ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
        }
        #expect(VolumeMountKey.kernelDevice(glibc(8, 1)) == 8 << 20 | 1)
        #expect(VolumeMountKey.kernelDevice(glibc(0, 25)) == 25)
        #expect(VolumeMountKey.kernelDevice(glibc(259, 300_000)) == 259 << 20 | 300_000)
        let k = VolumeMountKey(device: 259 << 20 | 7, inode: 2)
        #expect(k.major == 259 && k.minor == 7 && k.description == "259:7 inode 2")
    }

    /// The real stat(2): /proc's device is the one mountinfo names, and kinds follow the file type.
    @Test func realStatAgreesWithMountinfo() throws {
        let info = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let line = try #require(info.split(separator: "\n").first { $0.split(separator: " ")[4] == "/proc" })
        let mm = line.split(separator: " ")[2].split(separator: ":").compactMap { UInt32($0) }
        let s = try #require(MountSourceStat.read("/proc"))
        #expect(s.type == .directory && s.key.major == mm[0] && s.key.minor == mm[1])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-vol-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x".write(toFile: dir + "/f", atomically: false, encoding: .utf8)
        var st = stat()
        #expect(stat(dir + "/f", &st) == 0)
        let f = try #require(MountSourceStat.read(dir + "/f"))
        #expect(f.type == .regular && f.key.inode == UInt64(st.st_ino))
        #expect(VolumeClassifier.classify(OCIMount(destination: "/a", source: dir + "/f"), pod: nil).kind == .file)
        #expect(VolumeClassifier.classify(OCIMount(destination: "/b", source: dir), pod: nil).kind == .volume)
        #expect(MountSourceStat.read(dir + "/missing") == nil)
    }

    @Test func mergingNeverWidensWhatIsIgnored() {
        #expect(VolumeKind.file.merged(.file) == .file)
        #expect(VolumeKind.file.merged(.volume) == .volume && VolumeKind.volume.merged(.file) == .volume)
    }
}

private enum FNVish {
    static func hash(_ s: String) -> UInt64 { s.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 } }
}
