/// What the agent keeps of a pod: the fields policy conditions and documents use. Value type, built
/// from the API object (Foundation's JSONDecoder is used for API objects: they arrive per pod change,
/// not per kernel event).
public struct PodMetadata: Sendable, Hashable {
    public var uid: String
    public var name: String
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// `status.podIP` (empty until the sandbox has a network).
    public var ip: String?
    /// Kind of the controlling owner (`ownerReferences[controller=true]`, else the first): ReplicaSet,
    /// DaemonSet, StatefulSet, Job, Node (static pods' mirrors)...
    public var ownerKind: String?
    public var nodeName: String?
    /// Runtime container ids of `status.containerStatuses` etc., without the `containerd://` prefix.
    public var containerIDs: [String]
    /// `spec.volumes`: name, type (the volume source key that is set: `configMap`, `secret`, `emptyDir`,
    /// `hostPath`, ...) and a hostPath's path.
    public var volumes: [Volume]
    public var resourceVersion: String

    public struct Volume: Sendable, Hashable {
        public var name: String
        public var type: String
        public var hostPath: String?
        public init(name: String, type: String, hostPath: String? = nil) {
            self.name = name; self.type = type; self.hostPath = hostPath
        }
    }

    public init(uid: String, name: String, namespace: String, labels: [String: String] = [:],
                annotations: [String: String] = [:], ip: String? = nil, ownerKind: String? = nil,
                nodeName: String? = nil, containerIDs: [String] = [], volumes: [Volume] = [],
                resourceVersion: String = "") {
        self.uid = uid; self.name = name; self.namespace = namespace; self.labels = labels
        self.annotations = annotations; self.ip = ip; self.ownerKind = ownerKind; self.nodeName = nodeName
        self.containerIDs = containerIDs; self.volumes = volumes; self.resourceVersion = resourceVersion
    }
}

public struct NamespaceMetadata: Sendable, Hashable {
    public var uid: String
    public var name: String
    public var resourceVersion: String
    public init(uid: String, name: String, resourceVersion: String = "") {
        self.uid = uid; self.name = name; self.resourceVersion = resourceVersion
    }
}

/// An object a reflector caches: identified by UID, versioned by resourceVersion.
public protocol KubernetesObject: Sendable, Hashable {
    associatedtype Wire: Decodable
    var uid: String { get }
    var resourceVersion: String { get }
    /// nil when the object lacks a field the cache needs (counted and skipped by the reflector).
    init?(wire: Wire)
}

// MARK: wire format (only the fields used; unknown fields are ignored by the decoder)

struct WireObjectMeta: Decodable {
    var name: String?
    var namespace: String?
    var uid: String?
    var resourceVersion: String?
    var labels: [String: String]?
    var annotations: [String: String]?
    var ownerReferences: [WireOwnerReference]?
}

struct WireOwnerReference: Decodable {
    var kind: String?
    var controller: Bool?
}

struct WireListMeta: Decodable {
    var resourceVersion: String?
    var `continue`: String?
}

public struct WirePod: Decodable {
    struct Spec: Decodable {
        var nodeName: String?
        var volumes: [WireVolume]?
    }
    struct ContainerStatus: Decodable { var containerID: String? }
    struct Status: Decodable {
        var podIP: String?
        var containerStatuses: [ContainerStatus]?
        var initContainerStatuses: [ContainerStatus]?
        var ephemeralContainerStatuses: [ContainerStatus]?
    }
    var metadata: WireObjectMeta?
    var spec: Spec?
    var status: Status?
}

/// One `spec.volumes[]` entry: its name and which volume source key is set (the type).
struct WireVolume: Decodable {
    var name: String?
    var type: String?
    var hostPath: String?

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    private struct HostPath: Decodable { var path: String? }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        name = try c.decodeIfPresent(String.self, forKey: Key(stringValue: "name"))
        type = c.allKeys.map(\.stringValue).filter { $0 != "name" }.sorted().first
        if type == "hostPath" { hostPath = try c.decodeIfPresent(HostPath.self, forKey: Key(stringValue: "hostPath"))?.path }
    }
}

public struct WireNamespace: Decodable {
    var metadata: WireObjectMeta?
}

struct WireList<Item: Decodable>: Decodable {
    var metadata: WireListMeta?
    var items: [Item]?
}

/// `metav1.Status`, the body of errors and of watch ERROR events.
struct WireStatus: Decodable {
    var kind: String?
    var code: Int?
    var reason: String?
    var message: String?
}

extension PodMetadata: KubernetesObject {
    public init?(wire: WirePod) {
        guard let m = wire.metadata, let uid = m.uid, let name = m.name, let namespace = m.namespace else { return nil }
        let owners = m.ownerReferences ?? []
        let owner = owners.first { $0.controller == true } ?? owners.first
        var ids: [String] = []
        let s = wire.status
        for status in (s?.containerStatuses ?? []) + (s?.initContainerStatuses ?? []) + (s?.ephemeralContainerStatuses ?? []) {
            guard let id = status.containerID, !id.isEmpty else { continue }
            if let r = id.range(of: "://") { ids.append(String(id[r.upperBound...])) } else { ids.append(id) }
        }
        let ip = s?.podIP.flatMap { $0.isEmpty ? nil : $0 }
        self.init(uid: uid, name: name, namespace: namespace, labels: m.labels ?? [:], annotations: m.annotations ?? [:],
                  ip: ip, ownerKind: owner?.kind, nodeName: wire.spec?.nodeName, containerIDs: ids,
                  volumes: (wire.spec?.volumes ?? []).compactMap { v in
                      guard let name = v.name, let type = v.type else { return nil }
                      return Volume(name: name, type: type, hostPath: v.hostPath)
                  },
                  resourceVersion: m.resourceVersion ?? "")
    }
}

extension NamespaceMetadata: KubernetesObject {
    public init?(wire: WireNamespace) {
        guard let m = wire.metadata, let uid = m.uid, let name = m.name else { return nil }
        self.init(uid: uid, name: name, resourceVersion: m.resourceVersion ?? "")
    }
}
