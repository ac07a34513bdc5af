import Glibc
import DefendEvents

/// A pod as the API server describes it (what the registry needs; the Kubernetes client converts).
public struct PodDescription: Sendable, Hashable {
    public var uid: String
    public var name: String
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]
    public var ip: String?
    public var ownerKind: String?
    /// Runtime ids of the pod's containers (for containers whose cgroup path names no pod).
    public var containerIDs: [String]
    /// `spec.volumes` (names and types; classifies subPath and hostPath mounts).
    public var volumes: [PodVolume]
    public init(uid: String, name: String, namespace: String, labels: [String: String] = [:],
                annotations: [String: String] = [:], ip: String? = nil, ownerKind: String? = nil,
                containerIDs: [String] = [], volumes: [PodVolume] = []) {
        self.uid = uid; self.name = name; self.namespace = namespace; self.labels = labels
        self.annotations = annotations; self.ip = ip; self.ownerKind = ownerKind; self.containerIDs = containerIDs
        self.volumes = volumes
    }
}

/// Which cgroup is which container, and what each container is: the runtime's description (image,
/// pod UID from the cgroup path or the CRI annotations) joined with the pod from the API server
/// (labels, annotations, IP, owner) and the cluster id/name. Fed with cgroup mkdir/rmdir records,
/// cgroup paths found at start, runtime state (read when a container is first seen, retried by
/// `describePending`) and pod updates; answers per event by cgroup id (two dictionary lookups). A
/// cgroup id never seen is resolved once by searching the cgroup filesystem for the directory with
/// that inode; the answer (container or host) is cached.
///
/// Every change of a container's context is reported by the mutating call that made it (the cgroup
/// ids whose context changed), so its owner (`ContainerState` in the agent) can rewrite the masks.
/// Not thread-safe: one owner.
public final class ContainerRegistry {
    public var locator: BundleLocator
    public var cgroupRoot: String
    public private(set) var clusterID: String?
    public private(set) var clusterName: String?
    /// Pods are expected from an API server: a container of a pod not seen yet is `metadataPending`.
    public var podsExpected = false
    /// Bound on cached cgroup ids (host cgroups included); the cache is cleared when exceeded.
    public var maxCgroups = 1 << 16
    /// Bound on cached pods (the watcher's cache is bounded the same way).
    public var maxPods = 1 << 14
    /// Times a container's state is looked for before giving up on describing it.
    public var maxDescribeAttempts = 3

    private var byCgroup: [UInt64: String?] = [:]       // cgroup id -> container id (nil = host)
    private var containers: [String: Known] = [:]
    private var pods: [String: PodDescription] = [:]
    private var podOfContainer: [String: String] = [:]  // container id -> pod uid (from pod status)
    /// The last answer (consecutive events mostly come from the same cgroup); cleared on any change.
    private var last: (cgroup: UInt64, context: ContainerContext?)?
    /// Containers whose runtime state could not be found after every attempt (counted, reported).
    public private(set) var undescribable = 0
    /// Called once per container given up on (the agent logs it with the roots searched).
    public var onUndescribable: ((ContainerRef) -> Void)?

    private struct Known {
        var ref: ContainerRef
        var description: ContainerDescription?
        var context: ContainerContext
        var attempts: Int
        var cgroups: Set<UInt64>
        var settled: Bool { description != nil }
    }

    public init(locator: BundleLocator = BundleLocator(), cgroupRoot: String = "/sys/fs/cgroup",
                clusterID: String? = nil, clusterName: String? = nil) {
        self.locator = locator; self.cgroupRoot = cgroupRoot
        self.clusterID = clusterID; self.clusterName = clusterName
    }

    public var containerCount: Int { containers.count }
    public var podCount: Int { pods.count }
    /// Containers still waiting for part of their description.
    public var pendingCount: Int { containers.values.filter { $0.context.metadataPending }.count }

    // MARK: feeding

    /// A cgroup mkdir/rmdir record. Returns the container context when a created cgroup is a container.
    @discardableResult
    public func apply(_ record: CgroupRecord) -> ContainerContext? {
        if record.created { return note(cgroupID: record.cgroupID, path: record.path) }
        forget(cgroupID: record.cgroupID)
        return nil
    }

    /// Records that cgroup `id` has `path` (relative to the cgroup v2 root). Returns its container, if any.
    @discardableResult
    public func note(cgroupID id: UInt64, path: String) -> ContainerContext? {
        last = nil
        if byCgroup.count >= maxCgroups { byCgroup.removeAll(keepingCapacity: true) }
        guard let ref = CgroupPath.container(in: path) else {
            byCgroup[id] = .some(nil)
            return nil
        }
        if case .some(.some(let known)) = byCgroup[id], known == ref.id { return describedContext(ref.id) }
        byCgroup[id] = .some(ref.id)
        if var k = containers[ref.id] {
            k.cgroups.insert(id)
            containers[ref.id] = k
        } else {
            var k = Known(ref: ref, description: nil, context: ContainerContext(id: ref.id), attempts: 0, cgroups: [id])
            k.context = compose(k)
            containers[ref.id] = k
        }
        return describedContext(ref.id)
    }

    /// Seeds from processes read at start: each distinct cgroup path is stat'ed for its id.
    public func seed(_ snapshots: [ProcSnapshot]) {
        var seen = Set<String>()
        for s in snapshots {
            guard let path = s.cgroupPath, seen.insert(path).inserted else { continue }
            if let id = cgroupID(ofPath: path) { note(cgroupID: id, path: path) }
        }
    }

    public func forget(cgroupID id: UInt64) {
        last = nil
        guard let entry = byCgroup.removeValue(forKey: id), let cid = entry, var k = containers[cid] else { return }
        k.cgroups.remove(id)
        containers[cid] = k.cgroups.isEmpty ? nil : k
        if k.cgroups.isEmpty { podOfContainer[cid] = nil }
    }

    /// The cluster id (kube-system's UID) or name changed: every Kubernetes container changes.
    @discardableResult
    public func setCluster(id: String?, name: String?) -> [UInt64] {
        guard id != clusterID || name != clusterName else { return [] }
        clusterID = id; clusterName = name
        return recompose { _ in true }
    }

    /// A pod appeared or changed. Returns the cgroups whose context changed.
    @discardableResult
    public func setPod(_ pod: PodDescription) -> [UInt64] {
        if pods[pod.uid] == nil, pods.count >= maxPods { return [] }
        let old = pods.updateValue(pod, forKey: pod.uid)
        if let old { for id in old.containerIDs where podOfContainer[id] == pod.uid { podOfContainer[id] = nil } }
        for id in pod.containerIDs where containers[id] != nil || podOfContainer.count < maxCgroups {
            podOfContainer[id] = pod.uid
        }
        return recompose { k in self.podUID(of: k) == pod.uid }
    }

    @discardableResult
    public func removePod(uid: String) -> [UInt64] {
        guard let old = pods.removeValue(forKey: uid) else { return [] }
        for id in old.containerIDs where podOfContainer[id] == uid { podOfContainer[id] = nil }
        return recompose { k in self.podUID(of: k) == uid }
    }

    /// Replaces every pod (a resynchronisation from the watcher's complete cache).
    @discardableResult
    public func replacePods(_ all: [PodDescription]) -> [UInt64] {
        pods = [:]
        podOfContainer = [:]
        for p in all.prefix(maxPods) {
            pods[p.uid] = p
            for id in p.containerIDs { podOfContainer[id] = p.uid }
        }
        return recompose { _ in true }
    }

    /// Looks again for the runtime state of containers not described yet (their state may be
    /// written after their cgroup). Returns the cgroups whose context changed.
    @discardableResult
    public func describePending() -> [UInt64] {
        var changed: [UInt64] = []
        for (id, k) in containers where !k.settled && k.attempts < maxDescribeAttempts {
            let before = k.context
            if describedContext(id) != before { changed.append(contentsOf: containers[id]?.cgroups ?? []) }
        }
        return changed
    }

    /// Containers whose description may still improve by retrying (`describePending`).
    public var hasUndescribed: Bool { containers.values.contains { !$0.settled && $0.attempts < maxDescribeAttempts } }

    /// Fills Kubernetes fields directly (tests; the agent feeds pods through `setPod`).
    public func updateKubernetes(containerID: String, _ update: (inout KubernetesContext) -> Void) {
        last = nil
        guard var k = containers[containerID] else { return }
        var kube = k.context.kubernetes ?? KubernetesContext(clusterID: clusterID, clusterName: clusterName)
        update(&kube)
        k.context.kubernetes = kube
        containers[containerID] = k
    }

    // MARK: queries (per event)

    /// The container of a cgroup, nil for host cgroups.
    public func context(forCgroupID id: UInt64) -> ContainerContext? {
        guard id != 0 else { return nil }
        if let l = last, l.cgroup == id { return l.context }
        let answer = lookup(cgroupID: id)
        // cache only settled answers (a container still waiting for its description is retried)
        if answer.map({ containers[$0.id].map { $0.settled || $0.attempts >= maxDescribeAttempts } ?? true }) ?? true {
            last = (id, answer)
        }
        return answer
    }

    /// Whether the cgroup is known (as a container or as the host) without searching the filesystem.
    public func isKnown(cgroupID id: UInt64) -> Bool { byCgroup[id] != nil }

    private func lookup(cgroupID id: UInt64) -> ContainerContext? {
        let cid: String?
        if let cached = byCgroup[id] {
            cid = cached
        } else {
            guard let path = path(ofCgroupID: id) else {
                if byCgroup.count >= maxCgroups { byCgroup.removeAll(keepingCapacity: true) }
                byCgroup[id] = .some(nil)
                return nil
            }
            return note(cgroupID: id, path: path)
        }
        guard let c = cid else { return nil }
        return describedContext(c)
    }

    public func context(forContainerID id: String) -> ContainerContext? {
        containers[id] == nil ? nil : describedContext(id)
    }

    public func containerID(forCgroupID id: UInt64) -> String? {
        if let cached = byCgroup[id] { return cached }
        return context(forCgroupID: id)?.id
    }

    /// What a container's volume mounts are classified from: its OCI spec's mounts (nil while its
    /// runtime state has not been read) and its pod's volumes (nil while the pod is unknown, or for a
    /// container of no pod).
    public func mountSources(containerID id: String) -> (mounts: [OCIMount]?, podVolumes: [PodVolume]?) {
        guard let k = containers[id] else { return (nil, nil) }
        let pod = podUID(of: k).flatMap { pods[$0] }
        return (k.description?.mounts, pod?.volumes)
    }

    /// Every container cgroup with its context (for a policy reload).
    public var allContainerCgroups: [UInt64: ContainerContext] {
        var out: [UInt64: ContainerContext] = [:]
        for k in containers.values { for id in k.cgroups { out[id] = k.context } }
        return out
    }

    // MARK: internals

    private func describedContext(_ id: String) -> ContainerContext? {
        guard var k = containers[id] else { return nil }
        if k.settled || k.attempts >= maxDescribeAttempts { return k.context }
        k.attempts += 1
        if let d = locator.describe(k.ref) {
            k.description = d
        } else if k.attempts >= maxDescribeAttempts {
            undescribable += 1
            onUndescribable?(k.ref)
        }
        k.context = compose(k)
        containers[id] = k
        last = nil
        return k.context
    }

    private func podUID(of k: Known) -> String? {
        k.description?.podUID ?? k.ref.podUID ?? podOfContainer[k.ref.id]
    }

    /// Recomposes the contexts of the containers `affected` selects; returns the cgroups that changed.
    private func recompose(_ affected: (Known) -> Bool) -> [UInt64] {
        last = nil
        var changed: [UInt64] = []
        for (id, var k) in containers where affected(k) {
            let new = compose(k)
            guard new != k.context else { continue }
            k.context = new
            containers[id] = k
            changed.append(contentsOf: k.cgroups)
        }
        return changed
    }

    /// The runtime's description joined with the pod and the cluster.
    private func compose(_ k: Known) -> ContainerContext {
        var c = ContainerContext(id: k.ref.id)
        let d = k.description
        if let text = d?.image, let image = ImageReference(parsing: text) {
            c.imageName = image.name
            c.imageFullName = image.fullName
            c.imageTag = image.tag
        }
        let uid = podUID(of: k)
        let pod = uid.flatMap { pods[$0] }
        let isKubernetes = pod != nil || d?.podName != nil || d?.podNamespace != nil || uid != nil || k.ref.runtime == .kubernetes
        if isKubernetes {
            var kube = KubernetesContext(clusterID: clusterID, clusterName: clusterName,
                                         namespace: pod?.namespace ?? d?.podNamespace,
                                         podName: pod?.name ?? d?.podName, podUID: uid)
            if let pod {
                kube.podLabels = pod.labels
                kube.podAnnotations = pod.annotations
                kube.podIP = pod.ip
                kube.ownerKind = pod.ownerKind
            }
            c.kubernetes = kube
        }
        // Still expected: the runtime state (until the attempts run out), the pod (while an API
        // server is watched), the cluster id (idem).
        let runtimePending = d == nil && k.attempts < maxDescribeAttempts
        let podPending = podsExpected && isKubernetes && (pod == nil || clusterID == nil)
        c.metadataPending = runtimePending || podPending
        return c
    }

    func cgroupID(ofPath path: String) -> UInt64? {
        var st = stat()
        guard stat(cgroupRoot + path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// Depth-first search of the cgroup filesystem for a directory whose inode is `id`.
    func path(ofCgroupID id: UInt64) -> String? {
        var found: String?
        CgroupTree.walk(cgroupRoot) { inode, path in
            if inode == id { found = path }
            return found == nil
        }
        return found
    }
}
