import Glibc
import DefendEvents

/// Which cgroup is which container, and what each container is. Fed with cgroup mkdir/rmdir records and
/// the cgroup paths of processes seeded from /proc; answers per event by cgroup id (two dictionary
/// lookups). A cgroup id never seen is resolved once by searching the cgroup filesystem for the
/// directory with that inode; the answer (container or host) is cached.
///
/// Kubernetes cluster id/name and pod labels need the API server (not implemented): the cluster
/// fields come from `clusterID`/`clusterName` when the agent config provides them, and
/// `updateKubernetes` lets a future API client fill labels/annotations.
/// Not thread-safe: one pipeline task owns it.
public final class ContainerRegistry {
    public var locator: BundleLocator
    public var cgroupRoot: String
    public var clusterID: String?
    public var clusterName: String?
    /// Bound on cached cgroup ids (host cgroups included); the cache is cleared when exceeded.
    public var maxCgroups = 1 << 16
    /// Times a container's state is looked for before giving up on describing it.
    public var maxDescribeAttempts = 3

    private var byCgroup: [UInt64: String?] = [:]       // cgroup id -> container id (nil = host)
    private var containers: [String: Known] = [:]
    /// The last answer (consecutive events mostly come from the same cgroup); cleared on any change.
    private var last: (cgroup: UInt64, context: ContainerContext?)?

    private struct Known {
        var ref: ContainerRef
        var context: ContainerContext
        var described: Bool
        var attempts: Int
        var cgroups: Int
    }

    public init(locator: BundleLocator = BundleLocator(), cgroupRoot: String = "/sys/fs/cgroup",
                clusterID: String? = nil, clusterName: String? = nil) {
        self.locator = locator; self.cgroupRoot = cgroupRoot
        self.clusterID = clusterID; self.clusterName = clusterName
    }

    public var containerCount: Int { containers.count }

    // MARK: feeding

    /// A cgroup mkdir/rmdir record. Returns the container context when a created cgroup is a container
    /// (so the agent can add it to the kernel's `containers` map).
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
            k.cgroups += 1
            containers[ref.id] = k
        } else {
            containers[ref.id] = Known(ref: ref, context: ContainerContext(id: ref.id), described: false, attempts: 0, cgroups: 1)
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
        k.cgroups -= 1
        containers[cid] = k.cgroups > 0 ? k : nil
    }

    /// Fills Kubernetes fields a later API client learns (pod labels, annotations, cluster).
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
        if answer.map({ containers[$0.id]?.described == true || (containers[$0.id]?.attempts ?? 0) >= maxDescribeAttempts }) ?? true {
            last = (id, answer)
        }
        return answer
    }

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

    // MARK: internals

    private func describedContext(_ id: String) -> ContainerContext? {
        guard var k = containers[id] else { return nil }
        if k.described || k.attempts >= maxDescribeAttempts { return k.context }
        k.attempts += 1
        if let d = locator.describe(k.ref) {
            k.context = Self.context(from: d, ref: k.ref, clusterID: clusterID, clusterName: clusterName)
            k.described = true
        }
        containers[id] = k
        return k.context
    }

    static func context(from d: ContainerDescription, ref: ContainerRef, clusterID: String?, clusterName: String?) -> ContainerContext {
        var c = ContainerContext(id: d.id)
        if let text = d.image, let image = ImageReference(parsing: text) {
            c.imageName = image.name
            c.imageFullName = image.fullName
            c.imageTag = image.tag
        }
        let podUID = d.podUID ?? ref.podUID
        if d.podName != nil || d.podNamespace != nil || podUID != nil || ref.runtime == .kubernetes {
            c.kubernetes = KubernetesContext(clusterID: clusterID, clusterName: clusterName, namespace: d.podNamespace,
                                             podName: d.podName, podUID: podUID)
        }
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
