import DefendEnrich
import DefendEvents
import DefendKernel
import DefendKubernetes
import DefendPolicy

/// The one owner of container state: each container's description (the registry: cgroups, runtime
/// state, pod, cluster) and what the kernel holds for it (its masks, the pod cgroups marked as
/// container parents, the roots of its volume mounts). It alone writes container masks and volume
/// mounts to the kernel, and rewrites them whenever a
/// description or the policy changes: a cgroup is created or seen for the first time (also when its
/// mkdir record was lost), the runtime's state is read, a pod appears or changes, the cluster id
/// arrives, a policy is installed. Runs on the agent loop's thread only (other threads go through
/// `AgentInbox`).
final class ContainerState {
    let registry: ContainerRegistry
    private let sensor: KernelSensor
    private(set) var policy: CompiledPolicy
    /// Masks last written per container cgroup (what the kernel's `containers` map holds).
    private var inKernel: [UInt64: ContainerMasks] = [:]
    /// When a container's masks were first written, or last completed (pending -> known), by cgroup:
    /// a fork/exec recorded before that was decided with incomplete masks and is decided again.
    private var maskedAt: [UInt64: UInt64] = [:]
    /// Boot time of each cgroup's mkdir record while its description is incomplete.
    private var createdAt: [UInt64: UInt64] = [:]
    /// Start window of containers created while the agent runs: from the first exec in the container
    /// to its complete masks (runtime state, pod, cluster) in the kernel.
    private var windows: [UInt64: StartWindow] = [:]
    private enum StartWindow {
        case created                    // mkdir seen; neither the first exec nor the complete masks yet
        case execAt(UInt64)             // first exec seen (kernel boot time); masks not complete yet
        case completeAt(UInt64)         // masks complete (boot time); no exec seen yet
        case measured
    }
    var maxTracked = 4096
    var now: () -> UInt64 = BootClock.nowBootNs
    /// stat(2) of a bind source in the host's mount namespace (tests replace it).
    var statSource: (String) -> MountSourceStat? = MountSourceStat.hostStat

    /// The kernel's `volume_mounts`: each volume root with the containers that mount it and the kind
    /// each classified it as. The kernel holds their merge (`VolumeKind.merged`: sharing never widens
    /// what is ignored); an entry goes when its last container goes.
    private var volumeHolders: [VolumeMountKey: [String: VolumeKind]] = [:]
    private var volumesInKernel: [VolumeMountKey: VolumeKind] = [:]
    /// Per container id: what its volumes were classified from, the roots it holds, its cgroups.
    private var containerVolumes: [String: ContainerVolumes] = [:]
    private var volumeOwner: [UInt64: String] = [:]  // cgroup id -> container id (for `remove`)
    private struct ContainerVolumes {
        var mounts: [OCIMount]?
        var podVolumes: [PodVolume]?
        var complete = false  // every source was stat'ed (else classified again on the next write)
        var held: [VolumeMountKey: VolumeKind] = [:]
        var cgroups: Set<UInt64> = []
    }

    private(set) var statistics = ContainerStateStatistics()

    init(registry: ContainerRegistry, sensor: KernelSensor, policy: CompiledPolicy) {
        self.registry = registry
        self.sensor = sensor
        self.policy = policy
        registry.onUndescribable = { ref in
            AgentLog.warning("container \(ref.id) (\(ref.runtime.rawValue)): no runtime state found under "
                             + (registry.locator.containerdRoots + registry.locator.crioRoots
                                + registry.locator.dockerRoots).joined(separator: ", ")
                             + "; its image (and pod annotations) are unknown, image selectors cannot match it")
        }
    }

    var containerCount: Int { inKernel.count }

    // MARK: start

    /// Every cgroup that exists already; pod cgroups are marked for the kernel. The masks are
    /// written by the first `install`.
    func seed() {
        var parents: [UInt64] = []
        CgroupTree.walk(registry.cgroupRoot) { id, path in
            registry.note(cgroupID: id, path: path)
            if CgroupPath.isKubernetesCgroup(path) { parents.append(id) }
            return true
        }
        for id in parents { markParent(id, true) }
    }

    /// Makes `compiled` the policy in force with the masks of every known container (the kernel
    /// swaps atomically). On failure the previous policy stays in force here and in the kernel.
    func install(_ compiled: CompiledPolicy) throws(SensorError) {
        let contexts = registry.allContainerCgroups
        var masks: [UInt64: ContainerMasks] = [:]
        for (id, c) in contexts {
            masks[id] = Self.masks(compiled, c)
            syncVolumes(containerID: c.id, cgroupID: id)
        }
        try sensor.apply(compiled.tables, containerMasks: masks)
        policy = compiled
        inKernel = masks
    }

    // MARK: feeding

    /// A cgroup mkdir/rmdir record.
    func cgroupRecord(_ record: CgroupRecord, bootTimeNs: UInt64) {
        let isParent = CgroupPath.isKubernetesCgroup(record.path)
        guard record.created else {
            registry.forget(cgroupID: record.cgroupID)
            remove(record.cgroupID)
            if isParent { markParent(record.cgroupID, false) }
            return
        }
        if let context = registry.note(cgroupID: record.cgroupID, path: record.path) {
            track(&createdAt, record.cgroupID, bootTimeNs)
            if windows[record.cgroupID] == nil, windows.count >= maxTracked { windows.removeAll(keepingCapacity: true) }
            windows[record.cgroupID] = .created
            write(record.cgroupID, context, firstTime: true)
        } else {
            remove(record.cgroupID)  // undoes a kernel adoption of a non-container (a QoS or pod cgroup)
        }
        if isParent { markParent(record.cgroupID, true) }
    }

    /// The container of an event's cgroup (nil = host). A container the kernel does not hold yet
    /// (its mkdir record was lost, or it predates a cache flush) is registered here and then.
    func context(forCgroupID id: UInt64) -> ContainerContext? {
        guard id != 0 else { return nil }
        let context = registry.context(forCgroupID: id)
        if let context, inKernel[id] == nil {
            statistics.lateRegistrations += 1
            write(id, context, firstTime: true)
        }
        return context
    }

    /// An exec in container cgroup `id` at kernel boot time `bootNs` (measures the start window).
    func noteExec(cgroupID id: UInt64, bootNs: UInt64) {
        guard let w = windows[id] else { return }
        switch w {
        case .created: windows[id] = .execAt(bootNs)
        case .completeAt(let complete):
            // The masks were complete before the first exec: the window is 0 (negative: how much earlier).
            statistics.noteStartWindow(nanoseconds: Int64(bitPattern: complete &- bootNs))
            windows[id] = .measured
        case .execAt, .measured: break
        }
    }

    /// When the cgroup's (complete) masks reached the kernel, if that was recently.
    func maskedTime(cgroupID: UInt64) -> UInt64? { maskedAt[cgroupID] }

    func apply(_ update: KubernetesUpdate) {
        switch update {
        case .pod(let pod): rewrite(registry.setPod(Self.description(pod)))
        case .podDeleted(let uid): rewrite(registry.removePod(uid: uid))
        case .clusterID(let id): rewrite(registry.setCluster(id: id, name: registry.clusterName))
        case .podsSynced: break
        }
    }

    /// Replaces every pod and the cluster id from a complete snapshot (after lost inbox messages).
    func resynchronise(pods: [PodMetadata], clusterID: String?) {
        statistics.resynchronisations += 1
        var changed = registry.replacePods(pods.map(Self.description))
        changed += registry.setCluster(id: clusterID ?? registry.clusterID, name: registry.clusterName)
        rewrite(changed)
    }

    /// Periodic: runtime state that was not there yet is looked for again.
    func retry() {
        if registry.hasUndescribed { rewrite(registry.describePending()) }
    }

    static func description(_ p: PodMetadata) -> PodDescription {
        PodDescription(uid: p.uid, name: p.name, namespace: p.namespace, labels: p.labels, annotations: p.annotations,
                       ip: p.ip, ownerKind: p.ownerKind, containerIDs: p.containerIDs,
                       volumes: p.volumes.map { PodVolume(name: $0.name, type: $0.type, hostPath: $0.hostPath) })
    }

    // MARK: kernel writes (the only ones)

    private func rewrite(_ cgroups: [UInt64]) {
        for id in Set(cgroups) {
            guard let c = registry.context(forCgroupID: id) else { continue }
            write(id, c, firstTime: false)
        }
    }

    private func write(_ id: UInt64, _ context: ContainerContext, firstTime: Bool) {
        syncVolumes(containerID: context.id, cgroupID: id)
        let m = Self.masks(policy, context)
        let wasPending = inKernel[id] == nil || createdAt[id] != nil
        if inKernel[id] != m {
            do {
                try sensor.setContainer(cgroupID: id, masks: m)
                let before = inKernel.updateValue(m, forKey: id)
                statistics.maskWrites += 1
                AgentLog.debug(Self.logLine(id, context, m, rewritten: before != nil))
            } catch {
                statistics.writeErrors += 1
                AgentLog.error("cannot describe container \(context.id) (cgroup \(id)) to the kernel: \(error)")
                return
            }
        }
        if firstTime || (wasPending && !context.metadataPending) { track(&maskedAt, id, now()) }
        if !context.metadataPending, let created = createdAt.removeValue(forKey: id) {
            let t = now()
            statistics.noteComplete(nanoseconds: t &- created)
            switch windows[id] {
            case .created: windows[id] = .completeAt(t)
            case .execAt(let exec):
                statistics.noteStartWindow(nanoseconds: Int64(bitPattern: t &- exec))
                windows[id] = .measured
            default: break
            }
        }
    }

    /// `--log-level debug`: each mask write with what it was computed from.
    private static func logLine(_ id: UInt64, _ context: ContainerContext, _ m: ContainerMasks, rewritten: Bool) -> String {
        var line = "container \(context.id) (cgroup \(id)): masks \(rewritten ? "rewritten" : "written")"
        line += " file=\(m.file) process=\(m.process)"
        if context.metadataPending { line += " (metadata pending)" }
        if let k = context.kubernetes {
            let labels: [String] = k.podLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            line += " pod \(k.namespace ?? "?")/\(k.podName ?? "?") labels [\(labels.joined(separator: ","))]"
        }
        return line
    }

    // MARK: volume mounts (the kernel's `volume_mounts`; written here only)

    /// Classifies the container's mounts (OCI spec, pod spec) when what they are classified from is new
    /// or changed, and makes the kernel hold exactly its volume roots. Before its spec is read a
    /// container holds none: its volumes are no volumes yet (their selectors apply).
    private func syncVolumes(containerID cid: String, cgroupID: UInt64) {
        let sources = registry.mountSources(containerID: cid)
        var entry = containerVolumes[cid] ?? ContainerVolumes()
        if entry.cgroups.insert(cgroupID).inserted {
            if volumeOwner[cgroupID] != nil, volumeOwner[cgroupID] != cid { releaseVolumes(cgroupID: cgroupID) }
            volumeOwner[cgroupID] = cid
        }
        defer { containerVolumes[cid] = entry }
        guard let mounts = sources.mounts else { return }
        if entry.complete && entry.mounts == mounts && entry.podVolumes == sources.podVolumes { return }
        var desired: [VolumeMountKey: VolumeKind] = [:]
        var complete = true
        for c in VolumeClassifier.classify(mounts, pod: sources.podVolumes, stat: statSource) {
            if c.reason == .noSource {
                complete = false
                statistics.volumeSourceErrors += 1
                AgentLog.warning("container \(cid): cannot stat the source \(c.mount.source) of its mount "
                                 + "\(c.mount.destination): not judged as a volume")
                continue
            }
            guard let kind = c.kind, let key = c.key else { continue }
            desired[key] = desired[key].map { $0.merged(kind) } ?? kind
            AgentLog.debug("container \(cid): \(c.mount.destination) is a \(kind) (\(c.reason.rawValue); root \(key))")
        }
        for key in entry.held.keys where desired[key] == nil { release(cid, key) }
        for (key, kind) in desired {
            volumeHolders[key, default: [:]][cid] = kind
            writeVolume(key)  // nothing when the kernel holds it already (also retries a failed write)
        }
        entry.mounts = mounts
        entry.podVolumes = sources.podVolumes
        entry.complete = complete
        entry.held = desired
    }

    /// A container cgroup goes: the container's volume roots go with its last cgroup.
    private func releaseVolumes(cgroupID: UInt64) {
        guard let cid = volumeOwner.removeValue(forKey: cgroupID), var entry = containerVolumes[cid] else { return }
        entry.cgroups.remove(cgroupID)
        guard entry.cgroups.isEmpty else {
            containerVolumes[cid] = entry
            return
        }
        for key in entry.held.keys { release(cid, key) }
        containerVolumes[cid] = nil
    }

    private func release(_ cid: String, _ key: VolumeMountKey) {
        volumeHolders[key]?[cid] = nil
        if volumeHolders[key]?.isEmpty == true { volumeHolders[key] = nil }
        writeVolume(key)
    }

    /// Makes the kernel's entry for `key` the merge of its holders' kinds (deleted when none holds it).
    /// A failed write is counted and logged; the entry is written again with the key's next change.
    private func writeVolume(_ key: VolumeMountKey) {
        var want: VolumeKind?
        for kind in volumeHolders[key]?.values ?? [:].values { want = want.map { $0.merged(kind) } ?? kind }
        guard want != volumesInKernel[key] else { return }
        do {
            if let want { try sensor.setVolumeMount(key, kind: want) } else { try sensor.removeVolumeMount(key) }
            volumesInKernel[key] = want
            statistics.volumeWrites += 1
        } catch {
            statistics.writeErrors += 1
            statistics.volumeWriteErrors += 1
            AgentLog.error("cannot \(want.map { "mark the mount root \(key) as a \($0)" } ?? "unmark the volume mount root \(key)") "
                           + "in the kernel: \(error)")
        }
    }

    /// Volume roots in the kernel (what `volume_mounts` holds).
    var volumeMountCount: Int { volumesInKernel.count }

    private func remove(_ id: UInt64) {
        releaseVolumes(cgroupID: id)
        inKernel[id] = nil
        maskedAt[id] = nil
        createdAt[id] = nil
        windows[id] = nil
        do { try sensor.removeContainer(cgroupID: id) } catch {
            statistics.writeErrors += 1
            AgentLog.error("cannot remove cgroup \(id) from the kernel's containers: \(error)")
        }
    }

    private func markParent(_ id: UInt64, _ present: Bool) {
        do {
            if present { try sensor.setContainerParent(cgroupID: id) } else { try sensor.removeContainerParent(cgroupID: id) }
        } catch {
            statistics.writeErrors += 1
            AgentLog.error("cannot \(present ? "mark" : "unmark") pod cgroup \(id) in the kernel: \(error)")
        }
    }

    private func track(_ map: inout [UInt64: UInt64], _ id: UInt64, _ value: UInt64) {
        if map[id] == nil, map.count >= maxTracked { map.removeAll(keepingCapacity: true) }
        map[id] = value
    }

    static func masks(_ policy: CompiledPolicy, _ context: ContainerContext) -> ContainerMasks {
        let m = policy.containerMasks(for: context)
        return ContainerMasks(file: m.file, process: m.process)
    }
}

struct ContainerStateStatistics: Sendable, Hashable {
    var maskWrites: UInt64 = 0
    /// Failed kernel writes (masks, container parents, volume mounts).
    var writeErrors: UInt64 = 0
    /// `volume_mounts` entries written or deleted, and those writes that failed (also in writeErrors).
    var volumeWrites: UInt64 = 0
    var volumeWriteErrors: UInt64 = 0
    /// Bind sources that could not be stat'ed (such a mount is not judged as a volume).
    var volumeSourceErrors: UInt64 = 0
    /// Containers first seen through an event (their cgroup_mkdir record was lost or predates the agent's cache).
    var lateRegistrations: UInt64 = 0
    var resynchronisations: UInt64 = 0
    /// From a container cgroup's mkdir to its complete masks (runtime state and pod) in the kernel.
    var completed: UInt64 = 0
    var lastCompleteNs: UInt64 = 0
    var maxCompleteNs: UInt64 = 0
    var totalCompleteNs: UInt64 = 0

    /// From a new container's first exec to its complete masks in the kernel (negative: the masks were
    /// complete that long before the first exec, whose decision therefore had them).
    var startWindows: UInt64 = 0
    var lastStartWindowNs: Int64 = 0
    var maxStartWindowNs: Int64 = .min

    mutating func noteStartWindow(nanoseconds: Int64) {
        startWindows += 1
        lastStartWindowNs = nanoseconds
        maxStartWindowNs = max(maxStartWindowNs, nanoseconds)
    }

    mutating func noteComplete(nanoseconds: UInt64) {
        completed += 1
        lastCompleteNs = nanoseconds
        maxCompleteNs = max(maxCompleteNs, nanoseconds)
        totalCompleteNs &+= nanoseconds
    }
}
