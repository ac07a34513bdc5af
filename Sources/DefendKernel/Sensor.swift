import CLibBPF
import DefendEvents
import DefendPolicy
import Glibc
import Synchronization

/// Container-condition masks of one cgroup (bits = selectors of each section).
public struct ContainerMasks: Sendable, Hashable {
    public var file: UInt64
    public var process: UInt64
    public init(file: UInt64, process: UInt64) { self.file = file; self.process = process }
}

/// The kernel sensor: loads the tracepoint object (always) and the BPF-LSM object (when the
/// kernel allows), shares one ring buffer and one policy between them, and reads records.
///
/// Policy model (kept in process, mirrored in the maps):
///   - `policy[g]`, `policy_paths` keys with generation g and `containers[cg].mask[g]` form
///     generation g; `policy_state.active` names the generation in force.
///   - `apply` deletes what is left of the inactive generation's paths, writes it completely
///     (paths, policy value, the new masks of EVERY known container), then flips `active`. The
///     old generation stays intact until the next `apply`, so a program racing the flip decides
///     on one complete generation. A container never lacks a mask for the generation in force.
///   - `setContainer` writes a cgroup's masks into both generations (the inactive one is
///     rewritten by the next `apply` anyway), `removeContainer` deletes it.
public final class Sensor: @unchecked Sendable {
    public let configuration: SensorConfiguration
    public let capabilities: SensorCapabilities

    let sensorObject: BPFObject
    let lsmObject: BPFObject?
    private let policyMap: BPFMap
    private let stateMap: BPFMap
    private let pathsMap: BPFMap
    private let containersMap: BPFMap
    private let containerParentsMap: BPFMap
    private let lossesMap: BPFMap
    /// The LSM object's `volume_mounts` (nil without the LSM half: no file decisions to make).
    private let volumesMap: BPFMap?
    private let reader: RingBufferReader
    private let model = Mutex(PolicyModel())
    private let closed = Atomic<Bool>(false)
    private let streamDrops = Atomic<UInt64>(0)

    struct PolicyModel {
        var active: UInt32 = 0
        var pathKeys: [[defend_path_key]] = [[], []]
        var containers: [UInt64: defend_container] = [:]
        var unknownMasks = ContainerMasks(file: 0, process: 0)
    }

    static let sharedMaps = ["events", "losses", "policy", "policy_state", "policy_paths", "containers"]

    public init(configuration: SensorConfiguration = SensorConfiguration()) throws(SensorError) {
        let processCaps = ProcessCapabilities(effective: Probes.effectiveCapabilities ?? 0)
        let missing = processCaps.missingRequired
        guard missing.isEmpty else { throw .missingCapabilities(missing) }
        self.configuration = configuration
        // first of all probes: freed probe programs and maps are uncharged from RLIMIT_MEMLOCK only later
        let chargesMemlock = Probes.chargesMemlock
        let bpfLoop = Probes.hasBPFLoop
        let variant: BPFObjectVariant = configuration.objectVariant == .auto
            ? (bpfLoop ? .loop : .bounded) : configuration.objectVariant
        var caps = SensorCapabilities(btf: Probes.hasBTF, ringBuffer: Probes.hasRingBuffer, bpfLoop: bpfLoop,
                                      objectVariant: variant.rawValue, lsmListed: Probes.lsmListsBPF)
        // Both are hard requirements of every program: say so instead of a verifier log.
        guard caps.btf else { throw .unsupportedKernel("no kernel BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)") }
        guard caps.ringBuffer else { throw .unsupportedKernel("no BPF ring buffer (Linux 5.8 or later needed)") }
        caps.missingCapabilities = processCaps.missingWanted(memlockAccounting: chargesMemlock)
        if !Probes.hasTracefs && configuration.mountTracefsIfMissing {
            caps.mountedTracefs = Probes.mountTracefs()
        }

        let ringBytes = configuration.effectiveRingBufferBytes
        let objects = Sensor.objects(variant)
        let sensor: BPFObject
        do {
            sensor = try BPFObject.openAndLoad(name: objects.sensor.name, bytes: objects.sensor.bytes) { obj throws(SensorError) in
                let events = try obj.map("events")
                if bpf_map__set_max_entries(events.handle, ringBytes) != 0 {
                    throw .mapUpdate(map: "events", errno: errno)
                }
            }
        } catch {
            if variant == .loop && !bpfLoop, case let .objectLoad(object, code, log) = error {
                // the bpf_loop build was asked for on a kernel without it: say that first
                let hint = "the kernel lacks the BPF helper bpf_loop (DEFEND_BPF_VARIANT=loop forces it)\n" + log
                throw Sensor.explained(.objectLoad(object: object, errno: code, log: hint), features: caps.features,
                                       keepLog: configuration.libbpfLog)
            }
            if case let .objectLoad(object, code, log) = error, abs(code) == EPERM, chargesMemlock || Probes.memlockLimited,
               !processCaps.has(ProcessCapabilities.sysResource) {
                // kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; libbpf could not raise it
                let hint = "this kernel charges BPF maps to RLIMIT_MEMLOCK, which the agent cannot raise without "
                    + "CAP_SYS_RESOURCE (give it, or raise the limit: ulimit -l / LimitMEMLOCK=infinity)\n" + log
                throw Sensor.explained(.objectLoad(object: object, errno: code, log: hint), features: caps.features,
                                       keepLog: configuration.libbpfLog, hinted: true)
            }
            throw Sensor.explained(error, features: caps.features, keepLog: configuration.libbpfLog)
        }
        sensorObject = sensor
        do {
            policyMap = try sensor.map("policy")
            stateMap = try sensor.map("policy_state")
            pathsMap = try sensor.map("policy_paths")
            containersMap = try sensor.map("containers")
            containerParentsMap = try sensor.map("container_parents")
            lossesMap = try sensor.map("losses")
            // No policy yet: generation 0 carries only the telemetry flag.
            let initial = KernelPolicyImage.telemetryOnly(configuration.processTelemetry)
            try policyMap.update(UInt32(0), initial)
            try policyMap.update(UInt32(1), initial)
            try stateMap.update(UInt32(0), defend_policy_state(active: 0, pad: 0))
            reader = try RingBufferReader(mapFD: try sensor.map("events").fd)
        } catch {
            sensor.close()
            throw error
        }

        for program in sensor.programNames {
            if let why = sensor.attach(program: program) { caps.failed[program] = why } else { caps.attached.append(program) }
        }

        lsmObject = Sensor.loadLSM(sensor: sensor, object: objects.lsm, configuration: configuration, capabilities: &caps)
        var volumes: BPFMap?
        var volumesMissing: SensorError?
        if let lsm = lsmObject {
            do { volumes = try lsm.map("volume_mounts") } catch { volumesMissing = error }
        }
        volumesMap = volumes
        capabilities = caps
        if let volumesMissing {  // a build/ABI mismatch: nothing sensible runs without it
            close()
            throw volumesMissing
        }
    }

    /// Loads and attaches the LSM half re-using the sensor's maps. All or nothing: a partly
    /// attached LSM would report some file operations and enforce some blocks, which is worse
    /// than an honest "off".
    /// The embedded sensor and LSM objects of one build variant.
    static func objects(_ variant: BPFObjectVariant) -> (sensor: EmbeddedBPF, lsm: EmbeddedBPF) {
        variant == .bounded ? (EmbeddedBPF.sensor_bounded, EmbeddedBPF.lsm_bounded) : (EmbeddedBPF.sensor, EmbeddedBPF.lsm)
    }

    /// A load error in plain words: what the kernel lacks when the log says so, the features found,
    /// and libbpf's log only when asked for ($DEFEND_BPF_LOG=1).
    static func explained(_ error: SensorError, features: String, keepLog: Bool, hinted: Bool = false) -> SensorError {
        guard case let .objectLoad(object, code, log) = error else { return error }
        let reason = hinted ? String(log.prefix { $0 != "\n" })
            : Sensor.missingFeature(inLog: log) ?? "the kernel's verifier refused it"
        var text = "\(reason); \(features)"
        text += keepLog ? "\n" + log : "; set DEFEND_BPF_LOG=1 for libbpf's log"
        return .objectLoad(object: object, errno: code, log: text)
    }

    /// What a verifier/libbpf log says the kernel lacks, when it says so.
    static func missingFeature(inLog log: String) -> String? {
        func after(_ marker: String) -> String? {
            guard let r = log.range(of: marker) else { return nil }
            return String(log[r.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" })
        }
        if let helper = after("unknown func ") { return "the kernel lacks the BPF helper \(helper)" }
        if log.contains("invalid func unknown#") { return "the kernel lacks a BPF helper the programs call" }
        if log.contains("number of funcs in func_info doesn't match") {  // a bpf_loop callback on 5.10-5.12
            return "the kernel lacks the BPF helper bpf_loop (callback functions)"
        }
        if log.contains("BPF_ATOMIC") || log.contains("BPF_XADD") || log.contains("atomic") && log.contains("invalid") {
            return "the kernel lacks a BPF atomic instruction the programs use"
        }
        if let hook = after("Failed to find kernel BTF type ID of '") { return "the kernel lacks the hook \(hook)" }
        if log.contains("too complex") || log.contains("too large") || log.contains("processed 1000001") {
            return "the programs exceed this kernel's verifier limits"
        }
        if log.contains("kernel BTF is missing") || log.contains("vmlinux BTF") { return "the kernel has no BTF" }
        return nil
    }

    private static func loadLSM(sensor: BPFObject, object: EmbeddedBPF, configuration: SensorConfiguration,
                                capabilities caps: inout SensorCapabilities) -> BPFObject? {
        guard configuration.enableLSM else {
            caps.lsmFailure = "disabled by configuration"
            return nil
        }
        if caps.lsmListed == false {
            caps.lsmFailure = "BPF-LSM is not active on this kernel (boot with lsm=...,bpf)"
            return nil
        }
        let lsm: BPFObject
        do {
            lsm = try BPFObject.openAndLoad(name: object.name, bytes: object.bytes) { obj throws(SensorError) in
                // hooks this kernel does not have (e.g. inode_set_acl before 6.2) are not loaded
                for (program, hook) in SensorCapabilities.optionalLSMHooks where !Probes.hasLSMHook(hook) {
                    obj.disable(program: program)
                    caps.absentHooks.append(hook)
                }
                // one program per signature of a hook: keep the one with this kernel's parameter count
                for (hook, programs) in SensorCapabilities.lsmHookSignatures {
                    let count = Probes.lsmHookParameterCount(hook)
                    for (program, parameters) in programs where count != parameters { obj.disable(program: program) }
                }
                for name in sharedMaps {
                    let shared = try sensor.map(name)
                    let mine = try obj.map(name)
                    let rc = bpf_map__reuse_fd(mine.handle, shared.fd)
                    if rc != 0 { throw .mapUpdate(map: name, errno: rc) }
                }
            }
        } catch {
            if case let .objectLoad(_, code, _) = error, code == -EPERM || code == EPERM {
                caps.lsmFailure = "the kernel refused BPF-LSM programs (EPERM): BPF-LSM is not active on this kernel "
                    + "(boot with lsm=...,bpf)"
            } else {
                let plain = Sensor.explained(error, features: caps.features, keepLog: configuration.libbpfLog)
                if configuration.libbpfLog { caps.lsmFailure = plain.description } else {
                    caps.lsmFailure = plain.description.split(separator: "\n").first.map(String.init) ?? "load failed"
                }
            }
            for p in SensorCapabilities.lsmPrograms { caps.failed[p] = caps.lsmFailure }
            return nil
        }
        var failures: [String: String] = [:]
        for program in lsm.programNames where lsm.isLoaded(program) {
            if let why = lsm.attach(program: program) { failures[program] = why }
        }
        if failures.isEmpty {
            caps.lsmActive = true
            caps.attached.append(contentsOf: lsm.programNames.filter { lsm.isLoaded($0) })
            return lsm
        }
        lsm.close()
        caps.lsmFailure = "LSM programs failed to attach: "
            + failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        for p in SensorCapabilities.lsmPrograms { caps.failed[p] = failures[p] ?? "detached (all-or-nothing)" }
        return nil
    }

    // MARK: policy

    /// Atomically replaces the policy. `containerMasks` gives the new generation's masks of
    /// containers (by cgroup id); known containers not listed get the tables'
    /// `unknownContainerMask`. New cgroups in `containerMasks` become containers.
    public func apply(_ tables: KernelTables, containerMasks: [UInt64: ContainerMasks] = [:]) throws(SensorError) {
        try checkOpen()
        let result: Result<Void, SensorError> = model.withLock { m in
            do throws(SensorError) {
                let new = 1 - m.active
                let image = try KernelPolicyImage(tables, generation: new)
                // Both generations live in one map: the policy in force stays until the flip.
                let inForce = m.pathKeys[Int(m.active)].count
                if image.paths.count + inForce > Int(DEFEND_POLICY_PATHS_MAX) {
                    throw .policyTooLarge("the policy needs \(image.paths.count) kernel path entries and the policy in "
                                          + "force holds \(inForce); the policy_paths map holds \(DEFEND_POLICY_PATHS_MAX) "
                                          + "for both (at most \(KernelCapacity.pathEntriesPerPolicy) per policy)")
                }
                for key in m.pathKeys[Int(new)] { try pathsMap.delete(key) }  // the policy before last
                m.pathKeys[Int(new)] = []
                for (key, value) in image.paths {
                    try pathsMap.update(key, value)
                    m.pathKeys[Int(new)].append(key)
                }
                let unknown = ContainerMasks(file: tables.unknownContainerMask[safe: 0],
                                             process: tables.unknownContainerMask[safe: 1])
                // The new generation's policy value goes in first (it is not in force yet): a pod's
                // child cgroup that the kernel adopts from here on copies the new undescribed-container
                // masks into the new generation by itself, and one adopted before is found below.
                try policyMap.update(new, image.policy)
                // Containers the kernel adopted by itself (children of container parents) that the
                // agent has not described yet get the new generation's undescribed-container masks too.
                for id in containersMap.u64Keys() where m.containers[id] == nil && containerMasks[id] == nil {
                    m.containers[id] = Sensor.container(both: m.unknownMasks)
                }
                var updated = m.containers
                for id in Set(m.containers.keys).union(containerMasks.keys) {
                    let masks = containerMasks[id] ?? unknown
                    var c = m.containers[id] ?? Sensor.container(both: masks)
                    Sensor.set(&c, generation: new, masks)
                    try containersMap.update(id, c)
                    updated[id] = c
                }
                m.containers = updated
                try stateMap.update(UInt32(0), defend_policy_state(active: new, pad: 0))
                m.active = new
                m.unknownMasks = unknown
                // The old generation's paths stay until the next apply reuses that generation (and
                // deletes them first): a program that read `active` just before the flip still
                // finds a complete old generation.
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// The masks of one container cgroup for the generation in force (and the inactive one).
    public func setContainer(cgroupID: UInt64, masks: ContainerMasks) throws(SensorError) {
        try checkOpen()
        let result: Result<Void, SensorError> = model.withLock { m in
            let c = Sensor.container(both: masks)
            do throws(SensorError) { try containersMap.update(cgroupID, c) } catch { return .failure(error) }
            m.containers[cgroupID] = c
            return .success(())
        }
        try result.get()
    }

    /// Marks a cgroup as a container whose metadata is not known yet (the tables' unknownContainerMask).
    public func setUnknownContainer(cgroupID: UInt64) throws(SensorError) {
        let masks = model.withLock { $0.unknownMasks }
        try setContainer(cgroupID: cgroupID, masks: masks)
    }

    /// Forgets a container cgroup (absent already is fine); a failed delete is an error for the caller.
    public func removeContainer(cgroupID: UInt64) throws(SensorError) {
        try checkOpen()
        let result: Result<Void, SensorError> = model.withLock { m in
            m.containers[cgroupID] = nil
            do throws(SensorError) { try containersMap.delete(cgroupID) } catch { return .failure(error) }
            return .success(())
        }
        try result.get()
    }

    /// Marks a cgroup whose every new child is a container (a Kubernetes pod's cgroup): the kernel
    /// makes such a child a container in its mkdir, with the undescribed-container masks, so its first
    /// process is already judged as a container process. The agent describes it precisely later.
    public func setContainerParent(cgroupID: UInt64) throws(SensorError) {
        try checkOpen()
        try containerParentsMap.update(cgroupID, UInt8(1))
    }

    public func removeContainerParent(cgroupID: UInt64) throws(SensorError) {
        try checkOpen()
        try containerParentsMap.delete(cgroupID)
    }

    /// Makes every mount whose root is `key` a volume of `kind` for the LSM programs' volume conditions.
    /// Without the LSM half there are no file decisions: nothing to write.
    public func setVolumeMount(_ key: VolumeMountKey, kind: VolumeKind) throws(SensorError) {
        try checkOpen()
        guard let volumesMap else { return }
        try volumesMap.update(defend_mount_key(ino: key.inode, dev: key.device, pad: 0), kind.rawValue)
    }

    /// Forgets a volume mount root (absent already is fine).
    public func removeVolumeMount(_ key: VolumeMountKey) throws(SensorError) {
        try checkOpen()
        guard let volumesMap else { return }
        try volumesMap.delete(defend_mount_key(ino: key.inode, dev: key.device, pad: 0))
    }

    /// The kind the kernel holds for a mount root (tests and diagnostics); nil = no volume.
    public func volumeMountKind(_ key: VolumeMountKey) -> VolumeKind? {
        guard !closed.load(ordering: .acquiring), let volumesMap else { return nil }
        var k = defend_mount_key(ino: key.inode, dev: key.device, pad: 0)
        var v: UInt32 = 0
        return bpf_map_lookup_elem(volumesMap.fd, &k, &v) == 0 ? VolumeKind(rawValue: v) : nil
    }

    /// Whether the kernel's `containers` map holds this cgroup (for tests and diagnostics).
    public func isContainer(cgroupID: UInt64) -> Bool {
        guard !closed.load(ordering: .acquiring) else { return false }
        var key = cgroupID
        var value = defend_container()
        return bpf_map_lookup_elem(containersMap.fd, &key, &value) == 0
    }

    /// Generation in force (0/1).
    public var activeGeneration: UInt32 { model.withLock { $0.active } }

    private static func container(both masks: ContainerMasks) -> defend_container {
        var c = defend_container()
        set(&c, generation: 0, masks)
        set(&c, generation: 1, masks)
        return c
    }

    private static func set(_ c: inout defend_container, generation: UInt32, _ masks: ContainerMasks) {
        withUnsafeMutableBytes(of: &c) { b in
            let base = Int(generation) * Int(DEFEND_SECTION_COUNT.rawValue) * 8
            b.storeBytes(of: masks.file, toByteOffset: base + Int(DEFEND_SECTION_FILE.rawValue) * 8, as: UInt64.self)
            b.storeBytes(of: masks.process, toByteOffset: base + Int(DEFEND_SECTION_PROCESS.rawValue) * 8,
                         as: UInt64.self)
        }
    }

    // MARK: records

    /// Waits up to `timeoutMs` for records and hands each decoded event to `handler` on the
    /// calling thread. Returns the number of records consumed (decode failures included).
    /// The kernel wakes the reader at once only for alerts/denials (or a 64 KiB backlog); other
    /// records are drained when the wait ends, so they arrive within `timeoutMs`.
    @discardableResult
    public func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int {
        try checkOpen()
        return try reader.poll(timeoutMs: timeoutMs, handler: handler)
    }

    /// Events as an async sequence, read by a dedicated thread (polling blocks). Ends when the
    /// consumer stops iterating or the sensor is closed. Use either this or `poll`, not both.
    public func events(pollTimeoutMs: Int32 = 100, buffer: Int = 65536) -> AsyncStream<KernelEvent> {
        AsyncStream(bufferingPolicy: .bufferingOldest(buffer)) { continuation in
            let stop = Atomic<Bool>(false)
            let box = StopBox(stop: stop)
            continuation.onTermination = { _ in box.stop.store(true, ordering: .releasing) }
            PollThread.start { [self] in
                while !box.stop.load(ordering: .acquiring) {
                    do {
                        try self.poll(timeoutMs: pollTimeoutMs) { event in
                            if case .dropped = continuation.yield(event) {
                                self.streamDrops.add(1, ordering: .relaxed)
                            }
                        }
                    } catch {
                        break
                    }
                }
                continuation.finish()
            }
        }
    }

    public func lossCounters() -> LossCounters {
        var counters = LossCounters(decodeErrors: reader.decodeErrors.load(ordering: .relaxed),
                                    streamDrops: streamDrops.load(ordering: .relaxed))
        guard !closed.load(ordering: .acquiring) else { return counters }
        for type in LossCounters.EventType.allCases {
            counters.reserveFailures[type] = lossesMap.sumPerCPU(key: type.rawValue)
        }
        return counters
    }

    /// Detaches everything and frees the maps. Idempotent.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        reader.close()
        lsmObject?.close()
        sensorObject.close()
    }

    deinit { close() }

    private func checkOpen() throws(SensorError) {
        if closed.load(ordering: .acquiring) { throw .closed }
    }
}

private final class StopBox: Sendable {
    let stop: Atomic<Bool>
    init(stop: consuming Atomic<Bool>) { self.stop = stop }
}
