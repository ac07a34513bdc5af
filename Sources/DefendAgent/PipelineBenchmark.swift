import DefendECS
import DefendEnrich
import DefendEvents
import DefendKernel
import DefendKubernetes
import DefendOutput
import DefendPolicy

/// The agent's real per-event path (`EventPipeline` with its `ContainerState`, `DocumentBuilder`,
/// `PolicyGenerations` and sink) wired as `Agent` wires it, but with a kernel sensor that holds
/// nothing, so records can be fed without BPF. For `tools/bench-pipeline` (Sources/pipeline-bench);
/// the agent does not use it.
public final class PipelineBenchmarkHarness {
    public let pipeline: EventPipeline
    public let registry: ContainerRegistry
    public let policy: CompiledPolicy
    let containers: ContainerState

    /// `registry` and `processes` as the agent makes them (minus the /proc reader: the benchmark's
    /// processes exist only in its records). The policy is installed as by `Agent.init`.
    public init(policy: CompiledPolicy, registry: ContainerRegistry, processes: ProcessTable,
                documents: DocumentBuilder, sink: DocumentSink, generation: UInt32 = 1) throws {
        let sensor = NullKernelSensor(generation: generation)
        self.policy = policy
        self.registry = registry
        containers = ContainerState(registry: registry, sensor: sensor, policy: policy)
        try containers.install(policy)
        pipeline = EventPipeline(processes: processes, containers: containers, documents: documents, sink: sink,
                                 policies: PolicyGenerations(active: policy, generation: generation))
    }

    /// A Kubernetes update as the agent's loop applies it from the watcher's inbox.
    public func apply(_ update: KubernetesUpdate) { containers.apply(update) }

    /// Container cgroups whose masks the (null) kernel holds.
    public var containerCount: Int { containers.containerCount }

    /// Mask writes, late registrations (as `defend status` reports them).
    public var maskWrites: UInt64 { containers.statistics.maskWrites }
    public var lateRegistrations: UInt64 { containers.statistics.lateRegistrations }
}

/// A kernel sensor with no kernel: accepts every map write, never has records (tests subclass it to
/// script records).
class NullKernelSensor: KernelSensor {
    let activeGeneration: UInt32
    init(generation: UInt32) { activeGeneration = generation }
    var capabilitySummary: String { "none (benchmark)" }
    var blockingEnforced: Bool { false }
    func apply(_ tables: KernelTables, containerMasks: [UInt64: ContainerMasks]) throws(SensorError) {}
    func setContainer(cgroupID: UInt64, masks: ContainerMasks) throws(SensorError) {}
    func removeContainer(cgroupID: UInt64) throws(SensorError) {}
    func setContainerParent(cgroupID: UInt64) throws(SensorError) {}
    func removeContainerParent(cgroupID: UInt64) throws(SensorError) {}
    func setVolumeMount(_ key: VolumeMountKey, kind: VolumeKind) throws(SensorError) {}
    func removeVolumeMount(_ key: VolumeMountKey) throws(SensorError) {}
    func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int { 0 }
    func lossCounters() -> LossCounters { LossCounters() }
    func close() {}
}
