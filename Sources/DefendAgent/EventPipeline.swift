import DefendECS
import DefendEnrich
import DefendEvents
import DefendOutput
import DefendPolicy

/// The per-event path, on one thread: kernel record -> process table -> container -> ECS lines -> sink.
/// It owns the mutable enrichment state, so it is not shared across threads. Container state (and
/// every container mask written to the kernel) belongs to `ContainerState`.
public final class EventPipeline {
    public let processes: ProcessTable
    let containers: ContainerState
    private var documents: DocumentBuilder
    private let sink: DocumentSink
    private var policies: PolicyGenerations

    public private(set) var statistics = PipelineStatistics()

    init(processes: ProcessTable, containers: ContainerState, documents: DocumentBuilder,
         sink: DocumentSink, policies: PolicyGenerations) {
        self.processes = processes
        self.containers = containers
        self.documents = documents
        self.sink = sink
        self.policies = policies
    }

    public func updatePolicies(_ policies: PolicyGenerations) { self.policies = policies }

    public func handle(_ event: KernelEvent) {
        statistics.records += 1
        statistics.recordsByType.count(event.record)
        if case .cgroup(let record) = event.record {
            containers.cgroupRecord(record, bootTimeNs: event.bootTimeNs)
            return
        }
        let view = processes.apply(event)
        var event = event
        // A fork/exec recorded before its container's complete masks reached the kernel (the first
        // processes race the cgroup_mkdir record, the runtime state and the pod) was decided with
        // incomplete masks: decide it again with the description. A denied record was already judged
        // as a container process by the kernel (a pod's child cgroup is adopted in its mkdir): the
        // refusal stands and is reported as such.
        let cgroupOfEvent = Self.cgroupID(of: event.record)
        if case .exec = event.record, cgroupOfEvent != 0 {
            containers.noteExec(cgroupID: cgroupOfEvent, bootNs: event.bootTimeNs)
        }
        if let view, !event.decision.denied, isForkOrExec(event), cgroupOfEvent != 0 {
            _ = containers.context(forCgroupID: cgroupOfEvent)  // registers a container seen late
            if let installed = containers.maskedTime(cgroupID: cgroupOfEvent), event.bootTimeNs < installed {
                redecide(&event, view)
            }
        }
        let actions = event.decision.actions
        statistics.decisions.count(event.decision)
        // Telemetry-only records feed the process table; only decisions (or the `end` of a logged
        // process, which the builder knows) become documents.
        guard !actions.isEmpty || event.decision.denied || isExit(event) else { return }
        let cgroup = Self.cgroupID(of: event.record)
        let container = containers.context(forCgroupID: cgroup)
        let names = policies.selectorNames(for: event)
        let sink = self.sink
        let written = documents.withDocumentSpans(event: event, process: view, container: container,
                                                  matchedSelectors: names) { lines, spans in
            sink.append(lines, spans: spans)
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

    private func isForkOrExec(_ event: KernelEvent) -> Bool {
        switch event.record {
        case .fork, .exec: return true
        default: return false
        }
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
    public var recordsByType = RecordTypeCounts()
    public var decisions = DecisionCounts()
}

/// Kernel records by type (fixed fields: counted on every record, so no dictionary on the hot path).
public struct RecordTypeCounts: Sendable, Hashable {
    public var fork: UInt64 = 0, exec: UInt64 = 0, exit: UInt64 = 0, setsid: UInt64 = 0, file: UInt64 = 0, cgroup: UInt64 = 0

    mutating func count(_ record: KernelRecord) {
        switch record {
        case .fork: fork &+= 1
        case .exec: exec &+= 1
        case .exit: exit &+= 1
        case .setsid: setsid &+= 1
        case .file: file &+= 1
        case .cgroup: cgroup &+= 1
        }
    }

    public var byName: [String: UInt64] {
        ["fork": fork, "exec": exec, "exit": exit, "setsid": setsid, "file": file, "cgroup": cgroup]
    }
}

/// Decisions by action, and kernel refusals by policy operation.
public struct DecisionCounts: Sendable, Hashable {
    public var log: UInt64 = 0, alert: UInt64 = 0, block: UInt64 = 0
    /// Indexed by `PolicyOperation.rawValue`.
    public var deniedByOperation: [UInt64] = Array(repeating: 0, count: PolicyOperation.allCases.count)

    mutating func count(_ decision: Decision) {
        let actions = decision.actions
        if actions.contains(.log) { log &+= 1 }
        if actions.contains(.alert) { alert &+= 1 }
        if actions.contains(.block) { block &+= 1 }
        if decision.denied, let op = decision.operation, Int(op.rawValue) < deniedByOperation.count {
            deniedByOperation[Int(op.rawValue)] &+= 1
        }
    }

    public var byAction: [String: UInt64] { ["log": log, "alert": alert, "block": block] }

    public var deniedByOperationName: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for op in PolicyOperation.allCases { out[op.policyName] = deniedByOperation[Int(op.rawValue)] }
        return out
    }
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
