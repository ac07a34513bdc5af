/// What is known about the container an operation happened in, as the policy sees it.
/// Fields that are unknown are nil: a policy condition on an unknown value does not match.
public struct ContainerContext: Sendable, Hashable {
    public var id: String
    /// Short image name: the last path component of the repository ("nginx").
    public var imageName: String?
    /// Registry and repository without tag ("docker.io/library/nginx").
    public var imageFullName: String?
    public var imageTag: String?
    public var kubernetes: KubernetesContext?
    /// Part of the description is still expected (the runtime's state, or the pod from the API
    /// server): conditions on what is missing are "not yet known" (see `CompiledPolicy.containerMasks`).
    public var metadataPending: Bool

    public init(id: String, imageName: String? = nil, imageFullName: String? = nil, imageTag: String? = nil,
                kubernetes: KubernetesContext? = nil, metadataPending: Bool = false) {
        self.id = id; self.imageName = imageName; self.imageFullName = imageFullName
        self.imageTag = imageTag; self.kubernetes = kubernetes; self.metadataPending = metadataPending
    }
}

public struct KubernetesContext: Sendable, Hashable {
    public var clusterID: String?
    public var clusterName: String?
    public var namespace: String?
    public var podName: String?
    public var podUID: String?
    public var podLabels: [String: String]
    public var podAnnotations: [String: String]
    /// `orchestrator.resource.ip`: the pod's IP.
    public var podIP: String?
    /// `orchestrator.resource.parent.type`: kind of the pod's controlling owner (ReplicaSet, DaemonSet...).
    public var ownerKind: String?

    public init(clusterID: String? = nil, clusterName: String? = nil, namespace: String? = nil,
                podName: String? = nil, podUID: String? = nil, podLabels: [String: String] = [:],
                podAnnotations: [String: String] = [:], podIP: String? = nil, ownerKind: String? = nil) {
        self.clusterID = clusterID; self.clusterName = clusterName; self.namespace = namespace
        self.podName = podName; self.podUID = podUID; self.podLabels = podLabels
        self.podAnnotations = podAnnotations; self.podIP = podIP; self.ownerKind = ownerKind
    }
}
