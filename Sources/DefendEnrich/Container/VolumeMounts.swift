import Glibc
import DefendEvents

/// One entry of an OCI runtime spec's `mounts` (containerd/CRI-O bundle `config.json`).
public struct OCIMount: Sendable, Hashable {
    public var destination: String
    public var source: String
    public var type: String
    public var options: [String]
    public init(destination: String, source: String, type: String = "bind", options: [String] = ["rbind"]) {
        self.destination = destination; self.source = source; self.type = type; self.options = options
    }
    /// `type: bind`, or any type with the `bind`/`rbind` option (runc's rule).
    public var isBind: Bool { type == "bind" || options.contains("bind") || options.contains("rbind") }
}

/// A volume of a pod spec: its name and type (the `spec.volumes[]` key that is set: `configMap`,
/// `secret`, `projected`, `downwardAPI`, `emptyDir`, `hostPath`, `persistentVolumeClaim`, `csi`...).
public struct PodVolume: Sendable, Hashable {
    public var name: String
    public var type: String
    /// `hostPath.path` of a hostPath volume.
    public var hostPath: String?
    public init(name: String, type: String, hostPath: String? = nil) {
        self.name = name; self.type = type; self.hostPath = hostPath
    }
    /// Types whose content is files the kubelet writes (D4C's "file mounts"): configMap, secret,
    /// projected, downwardAPI.
    public var isFileVolume: Bool { PodVolume.fileTypes.contains(type) }
    static let fileTypes: Set<String> = ["configMap", "secret", "projected", "downwardAPI"]
}

/// What stat(2) says of a bind source on the host.
public struct MountSourceStat: Sendable, Hashable {
    public enum FileType: Sendable, Hashable { case regular, directory, other }
    public var type: FileType
    public var key: VolumeMountKey
    public init(type: FileType, key: VolumeMountKey) { self.type = type; self.key = key }

    /// stat(2) of a path of the host's mount namespace: through `/proc/1/root` when the agent runs in
    /// another one (a DaemonSet pod with `hostPID`, which sees kubelet's directories only there).
    public static func hostStat(_ path: String) -> MountSourceStat? { read(hostRootPrefix + path) }

    /// "/proc/1/root" when pid 1's mount namespace is not the agent's (and its root can be reached), else "".
    public static let hostRootPrefix: String = {
        func ns(_ pid: String) -> String? {
            var buf = [CChar](repeating: 0, count: 64)
            let n = readlink("/proc/\(pid)/ns/mnt", &buf, buf.count - 1)
            return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        }
        guard let mine = ns("self"), let host = ns("1"), mine != host, access("/proc/1/root/", X_OK) == 0 else { return "" }
        return "/proc/1/root"
    }()

    /// stat(2) of `path` (following links: the runtime resolved them already); nil with errno set.
    public static func read(_ path: String) -> MountSourceStat? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let fmt = st.st_mode & S_IFMT
        let type: FileType = fmt == S_IFREG ? .regular : (fmt == S_IFDIR ? .directory : .other)
        return MountSourceStat(type: type, key: VolumeMountKey(statDevice: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
    }
}

/// Which mounts of a container are volumes, and of which kind, from its OCI spec and (when known)
/// its pod spec. Decided from where a bind mount's source lies and what it is, never per event:
/// the kernel is given each volume's root identity (`VolumeMountKey`), so the decision follows the
/// mount, whatever name a file is reached or renamed by.
///
/// - Not a bind mount (proc, sysfs, devpts, mqueue, cgroup, a tmpfs the runtime creates): no volume.
/// - Source `…/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>` (kubelet's volume directory, whatever
///   its root directory): `configmap`, `secret`, `projected`, `downward-api` are file volumes; every other
///   plugin (`empty-dir`, `csi`, `local-volume`, PVC plugins...) a volume.
/// - Source `…/pods/<uid>/volume-subpaths/<volume>/<container>/<index>` (a subPath): a file volume when
///   the pod spec names `<volume>` a configMap/secret/projected/downwardAPI; otherwise by the source (a
///   regular file is a file mount, else a volume).
/// - The runtime's and kubelet's mounted files (destination `/etc/hosts`, `/etc/hostname`,
///   `/etc/resolv.conf`, `/dev/termination-log`, or a source `…/pods/<uid>/etc-hosts`,
///   `…/pods/<uid>/containers/<name>/<id>`): file mounts.
/// - Destination `/dev`, `/proc`, `/sys` or below (`/dev/shm` from the pod sandbox, devices): runtime
///   mounts, no volume.
/// - A Kubernetes container whose pod spec is known: a bind whose source is a hostPath volume's path
///   (or below it) is a volume (a file mount when the source is a regular file); any other bind is the
///   runtime's, no volume.
/// - Any other bind (`docker run -v`, `--mount type=bind`, `ctr run --mount`, or a Kubernetes hostPath
///   while the pod spec is unknown): a volume, a file mount when its source is a regular file.
public enum VolumeClassifier {
    /// Why a mount is or is not a volume (tests and `--log-level debug`).
    public enum Reason: String, Sendable, Hashable {
        case notBind = "not a bind mount"
        case kubeletFileVolume = "kubelet configMap/secret/projected/downwardAPI volume"
        case kubeletVolume = "kubelet volume"
        case subPathFileVolume = "subPath of a configMap/secret/projected/downwardAPI volume"
        case subPath = "subPath"
        case runtimeFile = "mounted file of the runtime or kubelet"
        case runtimeMount = "runtime mount"
        case hostPath = "hostPath volume"
        case notInPodSpec = "bind mount of no volume in the pod spec"
        case bind = "bind mount"
        case noSource = "source not found"
    }

    public struct Classified: Sendable, Hashable {
        public var mount: OCIMount
        /// nil: no volume.
        public var kind: VolumeKind?
        public var reason: Reason
        /// The root identity of the source (nil when it is no volume, or the source cannot be stat'ed).
        public var key: VolumeMountKey?
    }

    static let runtimeFiles: Set<String> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/termination-log"]
    static let runtimeTrees = ["/dev", "/proc", "/sys"]

    /// Classifies every mount. `pod`: the pod spec's volumes when known (nil: unknown or no pod).
    /// `stat` is stat(2) of a source on the host (injected by tests).
    public static func classify(_ mounts: [OCIMount], pod: [PodVolume]?,
                                stat: (String) -> MountSourceStat? = MountSourceStat.read) -> [Classified] {
        mounts.map { classify($0, pod: pod, stat: stat) }
    }

    public static func classify(_ m: OCIMount, pod: [PodVolume]?,
                                stat: (String) -> MountSourceStat? = MountSourceStat.read) -> Classified {
        func none(_ r: Reason) -> Classified { Classified(mount: m, kind: nil, reason: r, key: nil) }
        guard m.isBind, m.source.hasPrefix("/") else { return none(.notBind) }
        let dest = normalized(m.destination)
        let src = normalized(m.source)
        func with(_ kind: VolumeKind?, _ r: Reason, bySource: Bool = false) -> Classified {
            guard let s = stat(m.source) else { return Classified(mount: m, kind: nil, reason: .noSource, key: nil) }
            let k: VolumeKind = bySource ? (s.type == .regular ? .file : .volume) : (kind ?? .volume)
            return Classified(mount: m, kind: k, reason: r, key: s.key)
        }
        let kubelet = kubeletPath(src)
        switch kubelet {
        case .volume(let plugin):
            return with(fileVolumePlugins.contains(plugin) ? .file : .volume,
                        fileVolumePlugins.contains(plugin) ? .kubeletFileVolume : .kubeletVolume)
        case .subPath(let volume):
            if let v = pod?.first(where: { $0.name == volume }), v.isFileVolume { return with(.file, .subPathFileVolume) }
            return with(nil, .subPath, bySource: true)
        case .file:
            return with(.file, .runtimeFile)
        case nil:
            break
        }
        if runtimeFiles.contains(dest) { return with(.file, .runtimeFile) }
        if runtimeTrees.contains(where: { dest == $0 || dest.hasPrefix($0 + "/") }) { return none(.runtimeMount) }
        if let pod {
            let hostPaths = pod.compactMap { $0.type == "hostPath" ? $0.hostPath.map(normalized) : nil }
            if hostPaths.contains(where: { src == $0 || $0 == "/" || src.hasPrefix($0 + "/") }) {
                return with(nil, .hostPath, bySource: true)
            }
            return none(.notInPodSpec)
        }
        return with(nil, .bind, bySource: true)
    }

    /// Kubelet plugin directory names (`kubernetes.io~<plugin>`) of file volumes.
    static let fileVolumePlugins: Set<String> = ["kubernetes.io~configmap", "kubernetes.io~secret",
                                                 "kubernetes.io~projected", "kubernetes.io~downward-api"]

    enum KubeletPath: Equatable {
        case volume(plugin: String)  // …/pods/<uid>/volumes/<plugin>/<name>
        case subPath(volume: String) // …/pods/<uid>/volume-subpaths/<volume>/<container>/<index>
        case file                    // …/pods/<uid>/etc-hosts, …/pods/<uid>/containers/<name>/<id>
    }

    /// Where a source lies in a kubelet root directory (`/var/lib/kubelet` or another `--root-dir`):
    /// found by its shape `pods/<uid>/…` with the uid a UUID, the last such match winning.
    static func kubeletPath(_ path: String) -> KubeletPath? {
        let c = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var i = c.count - 2
        while i >= 0 {
            defer { i -= 1 }
            guard c[i] == "pods", isUUID(c[i + 1]), i + 2 < c.count else { continue }
            let rest = Array(c[(i + 2)...])
            switch rest[0] {
            case "volumes" where rest.count >= 3 && rest[1].contains("~"): return .volume(plugin: rest[1])
            case "volume-subpaths" where rest.count >= 4: return .subPath(volume: rest[1])
            case "etc-hosts" where rest.count == 1: return .file
            case "containers" where rest.count == 3: return .file
            default: continue
            }
        }
        return nil
    }

    static func isUUID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 36 else { return false }
        for (i, ch) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 { if ch != UInt8(ascii: "-") { return false } } else {
                let hex = (ch >= 48 && ch <= 57) || (ch >= 97 && ch <= 102) || (ch >= 65 && ch <= 70)
                if !hex { return false }
            }
        }
        return true
    }

    /// Lexically: repeated and trailing slashes dropped, `.` components removed.
    static func normalized(_ p: String) -> String {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }
}
