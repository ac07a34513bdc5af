/// The container runtime layout a cgroup path was recognised from.
public enum ContainerRuntime: String, Sendable, Hashable {
    case kubernetes   // cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>/<id>
    case containerd   // cri-containerd-<id>.scope, or /<namespace>/<id> as `ctr` creates
    case docker       // docker-<id>.scope, /docker/<id>
    case podman       // libpod-<id>.scope
    case crio         // crio-<id>.scope
}

/// A container found in a cgroup path.
public struct ContainerRef: Sendable, Hashable {
    public var id: String
    public var runtime: ContainerRuntime
    /// Pod UID when the path names one (dashes restored from systemd's underscores).
    public var podUID: String?
    /// containerd namespace for `/<namespace>/<id>` paths (`ctr` containers).
    public var namespace: String?
    public init(id: String, runtime: ContainerRuntime, podUID: String? = nil, namespace: String? = nil) {
        self.id = id; self.runtime = runtime; self.podUID = podUID; self.namespace = namespace
    }
}

/// Maps a cgroup v2 path to the container it belongs to. Components are searched from the deepest up,
/// so sub-cgroups a container creates itself (`/docker/<id>/init.scope`) still resolve to it.
///
/// Recognised: `kubepods[-*]-pod<uid>.slice/cri-containerd-<id>.scope`, `docker-<id>.scope`,
/// `libpod-<id>.scope`, `crio-<id>.scope` (not `crio-conmon-*`), `/kubepods/.../pod<uid>/<64-hex id>`,
/// `/docker/<id>`, and exactly two components `/<namespace>/<id>` (containerd's default for `ctr run`)
/// when neither looks like a systemd unit. Everything else (system.slice, user.slice, /) is the host.
public enum CgroupPath {
    public static func container(in path: String) -> ContainerRef? {
        let parts = path.split(separator: "/").filter { $0 != ".." && $0 != "." }
        guard !parts.isEmpty else { return nil }
        var i = parts.count - 1
        while i >= 0 {
            let c = parts[i]
            if let ref = scope(c, podUID: podUID(parts[..<i])) { return ref }
            if isHexID(c), i > 0 {
                let prev = parts[i - 1]
                if prev == "docker" { return ContainerRef(id: String(c), runtime: .docker) }
                if prev.hasPrefix("pod"), parts[..<i].contains(where: { $0 == "kubepods" || $0.hasPrefix("kubepods") }) {
                    return ContainerRef(id: String(c), runtime: .kubernetes, podUID: String(prev.dropFirst(3)))
                }
            }
            i -= 1
        }
        if parts.count == 2, isName(parts[0]), isName(parts[1]), !parts[0].hasPrefix("kubepods") {
            return ContainerRef(id: String(parts[1]), runtime: .containerd, namespace: String(parts[0]))
        }
        return nil
    }

    /// A cgroup of the Kubernetes tree (`kubepods`, its QoS and pod cgroups, containers:
    /// `/kubepods[/<qos>][/pod<uid>[/<id>]]`, `kubepods[-<qos>[-pod<uid>]].slice/...`). Every cgroup created
    /// below one is a QoS class, a pod or a container, so the kernel may treat a new one as a container
    /// from its mkdir on (a QoS or pod cgroup holds no process of its own), before the agent has read it.
    public static func isKubernetesCgroup(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0 == "kubepods" || $0.hasPrefix("kubepods.") || $0.hasPrefix("kubepods-")
            || $0.hasSuffix("-kubepods.slice") }
    }

    private static let scopes: [(String, ContainerRuntime)] = [
        ("cri-containerd-", .containerd), ("docker-", .docker), ("libpod-", .podman), ("crio-", .crio),
    ]

    private static func scope(_ c: Substring, podUID: String?) -> ContainerRef? {
        guard c.hasSuffix(".scope") else {
            // cri-o with the cgroupfs driver: /kubepods/.../pod<uid>/crio-<id>
            if c.hasPrefix("crio-"), isHexID(c.dropFirst(5)) {
                return ContainerRef(id: String(c.dropFirst(5)), runtime: .crio, podUID: podUID)
            }
            return nil
        }
        let stem = c.dropLast(6)
        for (prefix, runtime) in scopes where stem.hasPrefix(prefix) {
            let id = stem.dropFirst(prefix.count)
            if runtime == .crio, id.hasPrefix("conmon-") { return nil }
            guard isHexID(id) else { return nil }
            return ContainerRef(id: String(id), runtime: runtime, podUID: podUID)
        }
        return nil
    }

    /// `pod<uid>` or `kubepods-<qos>-pod<uid_with_underscores>.slice` among the ancestors.
    private static func podUID(_ ancestors: ArraySlice<Substring>) -> String? {
        for a in ancestors.reversed() {
            if a.hasSuffix(".slice"), let r = a.range(of: "-pod") {
                return String(a[r.upperBound...].dropLast(6)).replacingUnderscores()
            }
            if a.hasPrefix("pod"), a.count > 3, !a.hasSuffix(".slice") { return String(a.dropFirst(3)) }
        }
        return nil
    }

    /// Runtime ids are 64 lowercase hex characters (some tools shorten them; 12+ accepted).
    static func isHexID<S: StringProtocol>(_ s: S) -> Bool {
        s.utf8.count >= 12 && s.utf8.count <= 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// A containerd namespace or container name (not a systemd unit).
    private static func isName(_ s: Substring) -> Bool {
        for suffix in [".slice", ".scope", ".service", ".mount", ".socket"] where s.hasSuffix(suffix) { return false }
        return s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122)
            || $0 == 45 || $0 == 95 || $0 == 46 }
    }
}

extension String {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
