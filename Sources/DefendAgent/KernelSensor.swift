import DefendEvents
import DefendKernel
import DefendPolicy

/// What the agent needs from the kernel sensor. `DefendKernel.Sensor` is the real one; tests
/// drive the agent with a scripted stand-in.
public protocol KernelSensor: AnyObject {
    var capabilitySummary: String { get }
    var blockingEnforced: Bool { get }
    /// Generation now in force (names the compiled policy of each record).
    var activeGeneration: UInt32 { get }
    func apply(_ tables: KernelTables, containerMasks: [UInt64: ContainerMasks]) throws(SensorError)
    func setContainer(cgroupID: UInt64, masks: ContainerMasks) throws(SensorError)
    func removeContainer(cgroupID: UInt64) throws(SensorError)
    func setContainerParent(cgroupID: UInt64) throws(SensorError)
    func removeContainerParent(cgroupID: UInt64) throws(SensorError)
    /// `volume_mounts`: every mount whose root is `key` is a volume of `kind` for the file decisions.
    func setVolumeMount(_ key: VolumeMountKey, kind: VolumeKind) throws(SensorError)
    func removeVolumeMount(_ key: VolumeMountKey) throws(SensorError)
    @discardableResult
    func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int
    func lossCounters() -> LossCounters
    func close()
    // Introspection for metrics and `defend status` (defaults in AgentTelemetry.swift).
    var attachedPrograms: [String] { get }
    var failedPrograms: [String: String] { get }
    func programStatistics() -> [BPFProgramStatistics]
    func ringBufferFill() -> (pending: UInt64, capacity: UInt64)?
}

extension Sensor: KernelSensor {
    public var capabilitySummary: String { capabilities.summary }
    public var blockingEnforced: Bool { capabilities.blocking }
}
