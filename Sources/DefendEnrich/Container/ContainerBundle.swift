import Foundation

/// What a runtime's on-disk state says about one container.
public struct ContainerDescription: Sendable, Hashable {
    public var id: String
    /// The image as the runtime recorded it (`docker.io/library/nginx:1.25`).
    public var image: String?
    public var containerName: String?
    public var podName: String?
    public var podNamespace: String?
    public var podUID: String?
    /// A pod sandbox (pause) container rather than a workload container.
    public var isSandbox: Bool
    /// The OCI spec's `mounts` (empty for Docker's config.v2.json, which is read only without a bundle).
    public var mounts: [OCIMount]
    public init(id: String, image: String? = nil, containerName: String? = nil, podName: String? = nil,
                podNamespace: String? = nil, podUID: String? = nil, isSandbox: Bool = false, mounts: [OCIMount] = []) {
        self.id = id; self.image = image; self.containerName = containerName; self.podName = podName
        self.podNamespace = podNamespace; self.podUID = podUID; self.isSandbox = isSandbox; self.mounts = mounts
    }
}

/// Finds and reads a container's runtime state (read when a container is first seen, never per event).
///
/// - containerd (and CRI): `<root>/<namespace>/<id>/config.json`, the OCI bundle spec with the CRI
///   annotations `io.kubernetes.cri.{image-name,container-name,sandbox-name,sandbox-namespace,sandbox-uid,container-type}`.
/// - CRI-O: `<root>/<id>/userdata/config.json` with `io.kubernetes.cri-o.ImageName`, `io.kubernetes.pod.*`.
/// - Docker: `<root>/<id>/config.v2.json` (`Config.Image`, `Name`).
/// Containers started with plain `ctr run` (or nerdctl) carry no image annotation: their image is read
/// from containerd's metadata database (`ContainerdMetadata`), found through the bundle's `work` link.
public struct BundleLocator: Sendable, Hashable {
    public var containerdRoots: [String]
    public var crioRoots: [String]
    public var dockerRoots: [String]

    public static let defaultContainerdRoots = [
        "/run/containerd/io.containerd.runtime.v2.task",
        "/run/docker/containerd/daemon/io.containerd.runtime.v2.task",
        "/run/k3s/containerd/io.containerd.runtime.v2.task",
    ]

    /// containerd keeps each running task's bundle under `<state>/io.containerd.runtime.v2.task`.
    public static func containerdTaskRoot(stateDirectory: String) -> String {
        var state = Substring(stateDirectory)
        while state.count > 1, state.hasSuffix("/") { state = state.dropLast() }
        return state + "/io.containerd.runtime.v2.task"
    }

    /// The default roots plus those of extra containerd state directories (a containerd started with
    /// its own `state = ...`), searched first so a private runtime wins over a same-named default one.
    public static func withContainerdStates(_ states: [String]) -> BundleLocator {
        let extra = states.map(containerdTaskRoot(stateDirectory:))
        return BundleLocator(containerdRoots: extra + defaultContainerdRoots.filter { !extra.contains($0) })
    }

    public init(containerdRoots: [String] = BundleLocator.defaultContainerdRoots,
                crioRoots: [String] = ["/run/containers/storage/overlay-containers"],
                dockerRoots: [String] = ["/var/lib/docker/containers"]) {
        self.containerdRoots = containerdRoots; self.crioRoots = crioRoots; self.dockerRoots = dockerRoots
    }

    /// Reads the first state found for the container; nil when none exists (yet).
    public func describe(_ ref: ContainerRef) -> ContainerDescription? {
        let fm = FileManager.default
        for root in containerdRoots {
            var namespaces = (try? fm.contentsOfDirectory(atPath: root)) ?? []
            if let ns = ref.namespace, let i = namespaces.firstIndex(of: ns) { namespaces.swapAt(0, i) }
            for ns in namespaces {
                let bundle = "\(root)/\(ns)/\(ref.id)"
                guard var d = Self.readOCIConfig(path: bundle + "/config.json", id: ref.id) else { continue }
                if d.image == nil, let containerdRoot = ContainerdMetadata.root(ofBundle: bundle) {
                    d.image = ContainerdMetadata.image(database: ContainerdMetadata.databasePath(root: containerdRoot),
                                                       namespace: ns, id: ref.id)
                }
                return d
            }
        }
        for root in crioRoots {
            if let d = Self.readOCIConfig(path: "\(root)/\(ref.id)/userdata/config.json", id: ref.id) { return d }
        }
        for root in dockerRoots {
            if let d = Self.readDockerConfig(path: "\(root)/\(ref.id)/config.v2.json", id: ref.id) { return d }
        }
        return nil
    }

    static func readOCIConfig(path: String, id: String) -> ContainerDescription? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return parseOCIConfig(data, id: id)
    }

    /// An OCI runtime spec: `annotations` and `mounts` are used.
    static func parseOCIConfig(_ data: Data, id: String) -> ContainerDescription? {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let a = obj["annotations"] as? [String: String] ?? [:]
        func first(_ keys: String...) -> String? {
            for k in keys { if let v = a[k], !v.isEmpty { return v } }
            return nil
        }
        let type = first("io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType")
        return ContainerDescription(
            id: id,
            image: first("io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName", "io.containerd.image.name"),
            containerName: first("io.kubernetes.cri.container-name", "io.kubernetes.container.name"),
            podName: first("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"),
            podNamespace: first("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"),
            podUID: first("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"),
            isSandbox: type == "sandbox",
            mounts: parseMounts(obj["mounts"]))
    }

    /// The spec's `mounts` entries with a destination (`source`/`type`/`options` may be absent).
    static func parseMounts(_ value: Any?) -> [OCIMount] {
        guard let list = value as? [Any] else { return [] }
        return list.compactMap { item in
            guard let m = item as? [String: Any], let dest = m["destination"] as? String else { return nil }
            return OCIMount(destination: dest, source: m["source"] as? String ?? "", type: m["type"] as? String ?? "",
                            options: (m["options"] as? [Any] ?? []).compactMap { $0 as? String })
        }
    }

    static func readDockerConfig(path: String, id: String) -> ContainerDescription? {
        guard let data = FileManager.default.contents(atPath: path),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let config = obj["Config"] as? [String: Any] ?? [:]
        let labels = config["Labels"] as? [String: String] ?? [:]
        var name = obj["Name"] as? String
        if name?.hasPrefix("/") == true { name = String(name?.dropFirst() ?? "") }
        return ContainerDescription(id: id, image: config["Image"] as? String,
                                    containerName: labels["io.kubernetes.container.name"] ?? name,
                                    podName: labels["io.kubernetes.pod.name"],
                                    podNamespace: labels["io.kubernetes.pod.namespace"],
                                    podUID: labels["io.kubernetes.pod.uid"])
    }
}
