import DefendECS
import DefendEnrich
import DefendEvents
import DefendOutput
import DefendPolicy

/// The per-event path, on one thread: kernel record -> process table -> container -> ECS lines -> sink.
/// It owns the mutable enrichment state, so it is not shared across threads.
public final class EventPipeline {
    public let processes: ProcessTable
    public let containers: ContainerRegistry
    private var documents: DocumentBuilder
    private let sink: DocumentSink
    private var policies: PolicyGenerations
    /// Called when a cgroup turns out to be a container (or stops being one: context nil), so the
    /// kernel's `containers` map can be updated.
    private let containerChanged: (UInt64, ContainerContext?) -> Void
    /// Called when a Kubernetes pod cgroup appears (true) or goes (false): the kernel then treats its
    /// new children as containers at once.
    private let containerParentChanged: (UInt64, Bool) -> Void

    public private(set) var statistics = PipelineStatistics()
    /// Container cgroups registered while running, with the boot time their masks reached the kernel.
    /// A fork/exec in such a cgroup recorded before that time was decided as a host task (the
    /// container's first processes race the cgroup_mkdir record), so it is decided again here.
    private var registeredAt: [UInt64: UInt64] = [:]
    /// Bound on `registeredAt` (only a race window matters; the oldest entries are useless).
    var maxRegistrations = 4096
    /// Reads CLOCK_BOOTTIME (replaceable for tests).
    var now: () -> UInt64 = BootClock.nowBootNs

    public init(processes: ProcessTable, containers: ContainerRegistry, documents: DocumentBuilder,
                sink: DocumentSink, policies: PolicyGenerations,
                containerChanged: @escaping (UInt64, ContainerContext?) -> Void,
                containerParentChanged: @escaping (UInt64, Bool) -> Void = { _, _ in }) {
        self.processes = processes
        self.containers = containers
        self.documents = documents
        self.sink = sink
        self.policies = policies
        self.containerChanged = containerChanged
        self.containerParentChanged = containerParentChanged
    }

    public func updatePolicies(_ policies: PolicyGenerations) { self.policies = policies }

    public func handle(_ event: KernelEvent) {
        statistics.records += 1
        if case .cgroup(let record) = event.record {
            let context = containers.apply(record)
            let isParent = CgroupPath.isKubernetesCgroup(record.path)
            if record.created {
                if let context {
                    containerChanged(record.cgroupID, context)
                    if registeredAt.count >= maxRegistrations { registeredAt.removeAll(keepingCapacity: true) }
                    registeredAt[record.cgroupID] = now()
                } else {
                    containerChanged(record.cgroupID, nil)  // undoes a kernel adoption of a non-container
                }
                if isParent { containerParentChanged(record.cgroupID, true) }
            } else {
                containerChanged(record.cgroupID, nil)
                registeredAt[record.cgroupID] = nil
                if isParent { containerParentChanged(record.cgroupID, false) }
            }
            return
        }
        let view = processes.apply(event)
        var event = event
        // A denied record was already judged as a container process by the kernel (a pod's child cgroup
        // is adopted in its mkdir): the refusal stands and is reported as such.
        if let view, !event.decision.denied, let installed = registeredAt[Self.cgroupID(of: event.record)],
           event.bootTimeNs < installed {
            redecide(&event, view)
        }
        let actions = event.decision.actions
        // Telemetry-only records feed the process table; only decisions (or the `end` of a logged
        // process, which the builder knows) become documents.
        guard !actions.isEmpty || event.decision.denied || isExit(event) else { return }
        let cgroup = Self.cgroupID(of: event.record)
        let container = cgroup == 0 ? nil : containers.context(forCgroupID: cgroup)
        let names = policies.selectorNames(for: event)
        let sink = self.sink
        let written = documents.withDocuments(event: event, process: view, container: container,
                                              matchedSelectors: names) { lines, count in
            sink.append(lines, documents: count)
        }
        guard written > 0 else { return }
        statistics.documents += UInt64(written)
        if event.decision.actions.contains(.alert) || event.decision.denied { statistics.alerts += 1 }
        if event.decision.denied { statistics.denied += 1 }
    }

    /// Decides a fork/exec again in user space with the container's description, as the kernel would
    /// have with the container's mask (same compiled tables). Only the report can be corrected: an
    /// operation that should have been blocked already happened.
    private func redecide(_ event: inout KernelEvent, _ view: ProcessView) {
        let operation: PolicyOperation
        var state = PathState.complete
        switch event.record {
        case .fork: operation = .fork
        case .exec(let r): operation = .exec; state = r.filenameState
        default: return
        }
        guard let container = containers.context(forCgroupID: Self.cgroupID(of: event.record)) else { return }
        let p = view.process
        let verdict = policies.active.evaluate(PolicyEvent(operation: operation, path: p.executable,
                                                           processName: p.comm.isEmpty ? p.name : p.comm,
                                                           interactive: p.interactive, container: container,
                                                           pathState: state))
        event.decision = Decision(operation: operation, actions: verdict.actions, selectors: verdict.selectors,
                                  denied: false, generation: policies.activeGeneration)
        statistics.redecided += 1
    }

    private func isExit(_ event: KernelEvent) -> Bool {
        if case .exit = event.record { return true }
        return false
    }

    static func cgroupID(of record: KernelRecord) -> UInt64 {
        switch record {
        case .fork(let r): return r.child.cgroupID
        case .exec(let r): return r.task.cgroupID
        case .exit(let r): return r.task.cgroupID
        case .setsid(let r): return r.task.cgroupID
        case .file(let r): return r.task.cgroupID
        case .cgroup(let r): return r.cgroupID
        }
    }
}

public struct PipelineStatistics: Sendable, Hashable {
    public var records: UInt64 = 0
    public var documents: UInt64 = 0
    public var alerts: UInt64 = 0
    public var denied: UInt64 = 0
    /// Fork/exec records decided again in user space (they raced their container's registration).
    public var redecided: UInt64 = 0
}

/// The compiled policies the kernel may still be deciding with, by kernel generation, so the
/// selector bits of a record are named with the policy that set them (a reload can race records).
public struct PolicyGenerations: Sendable {
    private var byGeneration: [UInt32: CompiledPolicy] = [:]
    public private(set) var active: CompiledPolicy
    public private(set) var activeGeneration: UInt32

    public init(active: CompiledPolicy, generation: UInt32) {
        self.active = active
        activeGeneration = generation
        byGeneration[generation] = active
    }

    public mutating func install(_ policy: CompiledPolicy, generation: UInt32) {
        active = policy
        activeGeneration = generation
        byGeneration[generation] = policy
    }

    public func selectorNames(for event: KernelEvent) -> [String] {
        let mask = event.decision.selectors
        guard mask != 0, let operation = event.decision.operation else { return [] }
        let policy = byGeneration[event.decision.generation] ?? active
        return policy.selectorNames(section: operation.section, mask: mask)
    }
}
