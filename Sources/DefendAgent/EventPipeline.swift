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

    public private(set) var statistics = PipelineStatistics()

    public init(processes: ProcessTable, containers: ContainerRegistry, documents: DocumentBuilder,
                sink: DocumentSink, policies: PolicyGenerations,
                containerChanged: @escaping (UInt64, ContainerContext?) -> Void) {
        self.processes = processes
        self.containers = containers
        self.documents = documents
        self.sink = sink
        self.policies = policies
        self.containerChanged = containerChanged
    }

    public func updatePolicies(_ policies: PolicyGenerations) { self.policies = policies }

    public func handle(_ event: KernelEvent) {
        statistics.records += 1
        if case .cgroup(let record) = event.record {
            let context = containers.apply(record)
            if record.created {
                if let context { containerChanged(record.cgroupID, context) }
            } else {
                containerChanged(record.cgroupID, nil)
            }
            return
        }
        let view = processes.apply(event)
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
}

/// The compiled policies the kernel may still be deciding with, by kernel generation, so the
/// selector bits of a record are named with the policy that set them (a reload can race records).
public struct PolicyGenerations: Sendable {
    private var byGeneration: [UInt32: CompiledPolicy] = [:]
    public private(set) var active: CompiledPolicy

    public init(active: CompiledPolicy, generation: UInt32) {
        self.active = active
        byGeneration[generation] = active
    }

    public mutating func install(_ policy: CompiledPolicy, generation: UInt32) {
        active = policy
        byGeneration[generation] = policy
    }

    public func selectorNames(for event: KernelEvent) -> [String] {
        let mask = event.decision.selectors
        guard mask != 0, let operation = event.decision.operation else { return [] }
        let policy = byGeneration[event.decision.generation] ?? active
        return policy.selectorNames(section: operation.section, mask: mask)
    }
}
