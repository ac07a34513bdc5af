import DefendECS
import DefendEvents
import DefendKernel
import DefendOutput
import DefendPolicy
import Synchronization
@testable import DefendAgent

/// A kernel sensor stand-in: records what the agent asks of the kernel and replays scripted records.
final class FakeSensor: KernelSensor {
    var capabilitySummary = "fake sensor"
    var blockingEnforced = true
    var activeGeneration: UInt32 = 0
    var applied: [KernelTables] = []
    var appliedMasks: [[UInt64: ContainerMasks]] = []
    var containers: [UInt64: ContainerMasks] = [:]
    /// Records the next poll returns. The agent polls on its reader thread, so this is locked.
    var pending: [KernelEvent] {
        get { pendingRecords.withLock { $0 } }
        set { pendingRecords.withLock { $0 = newValue } }
    }
    private let pendingRecords = Mutex<[KernelEvent]>([])
    var failNextApply = false
    var closed = false

    func apply(_ tables: KernelTables, containerMasks: [UInt64: ContainerMasks]) throws(SensorError) {
        if failNextApply {
            failNextApply = false
            throw .closed
        }
        applied.append(tables)
        appliedMasks.append(containerMasks)
        activeGeneration = 1 - activeGeneration
        for (k, v) in containerMasks { containers[k] = v }
    }

    /// Container-map writes and deletes fail (as a full or vanished map would) while set.
    var failContainerWrites = false
    func setContainer(cgroupID: UInt64, masks: ContainerMasks) throws(SensorError) {
        if failContainerWrites { throw .mapUpdate(map: "containers", errno: 12) }
        containers[cgroupID] = masks
    }
    func removeContainer(cgroupID: UInt64) throws(SensorError) {
        if failContainerWrites { throw .mapDelete(map: "containers", errno: 9) }
        containers[cgroupID] = nil
    }
    var containerParents: Set<UInt64> = []
    func setContainerParent(cgroupID: UInt64) throws(SensorError) { containerParents.insert(cgroupID) }
    func removeContainerParent(cgroupID: UInt64) throws(SensorError) { containerParents.remove(cgroupID) }
    /// What `volume_mounts` holds; writes fail while `failVolumeWrites` is set.
    var volumeMounts: [VolumeMountKey: VolumeKind] = [:]
    var volumeWrites = 0
    var failVolumeWrites = false
    func setVolumeMount(_ key: VolumeMountKey, kind: VolumeKind) throws(SensorError) {
        if failVolumeWrites { throw .mapUpdate(map: "volume_mounts", errno: 7) }
        volumeMounts[key] = kind
        volumeWrites += 1
    }
    func removeVolumeMount(_ key: VolumeMountKey) throws(SensorError) {
        if failVolumeWrites { throw .mapDelete(map: "volume_mounts", errno: 9) }
        volumeMounts[key] = nil
        volumeWrites += 1
    }

    func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int {
        let batch = pendingRecords.withLock { p in
            defer { p = [] }
            return p
        }
        batch.forEach(handler)
        if batch.isEmpty { SignalWatcher.requestStop() }
        return batch.count
    }

    func lossCounters() -> LossCounters { LossCounters() }
    func close() { closed = true }
}

/// Collects NDJSON lines in memory.
final class MemorySink: DocumentSink {
    var bytes: [UInt8] = []
    var statistics = SinkStatistics()
    func append(_ lines: UnsafeRawBufferPointer, spans: UnsafeBufferPointer<DocumentSpan>) {
        bytes.append(contentsOf: lines)
        statistics.documentsWritten += UInt64(spans.count)
    }
    func flush() {}
    func close() {}
    var lines: [String] { String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init) }
}
