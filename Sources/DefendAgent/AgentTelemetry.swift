#if canImport(Glibc)
import Glibc
#endif
import DefendKernel
import DefendOutput
import DefendTelemetry

/// What only the agent's loop knows for its snapshots (reload outcomes, drain times), and where the
/// snapshots go. Owned by the agent; touched only on the loop's thread.
struct AgentTelemetryState {
    let snapshots: SnapshotBox
    var agentID = ""
    var startedUnixSeconds: Int64 = Int64(time(nil))
    var reloads: UInt64 = 0
    var reloadFailures: UInt64 = 0
    var lastReloadError: String?
    /// Before the ring reader runs (see `snapshot`): when the loop started.
    var lastDrainBootNs: UInt64 = 0
    var lastPublishBootNs: UInt64 = 0
    /// BPF_ENABLE_STATS descriptor held while `--bpf-stats` is on (-1: not held).
    var bpfStatsFD: Int32 = -1
    /// Snapshots are published at most this often (a snapshot reads kernel maps and /proc/self).
    static let publishIntervalNs: UInt64 = 1_000_000_000

    init(snapshots: SnapshotBox) { self.snapshots = snapshots }

    mutating func reloadFailed(_ why: String) {
        reloadFailures += 1
        lastReloadError = why
    }
}

extension Agent {
    /// Publishes a snapshot if the last one is older than the publish interval (or `force`).
    func publishSnapshot(phase: AgentSnapshot.Phase, nowBootNs: UInt64, force: Bool = false) {
        guard force || nowBootNs &- telemetry.lastPublishBootNs >= AgentTelemetryState.publishIntervalNs else { return }
        telemetry.lastPublishBootNs = nowBootNs
        telemetry.snapshots.publish(snapshot(phase: phase, nowBootNs: nowBootNs))
    }

    /// The agent's state now, as one value (read by the metrics endpoint and the status socket).
    func snapshot(phase: AgentSnapshot.Phase, nowBootNs: UInt64) -> AgentSnapshot {
        var s = AgentSnapshot()
        s.publishedBootNs = nowBootNs
        // The ring reader's last poll once it runs (before: the loop's start).
        s.lastDrainBootNs = drain?.lastPollBootNs.load(ordering: .relaxed) ?? telemetry.lastDrainBootNs
        s.startedUnixSeconds = telemetry.startedUnixSeconds
        s.version = defendVersion
        s.agentID = telemetry.agentID
        s.phase = phase
        s.ready = phase == .running

        s.policy.generation = sensor.activeGeneration
        s.policy.file = configuration.policyPath
        s.policy.summary = policy.policy.summary
        s.policy.blockActions = policy.policy.hasBlockActions
        s.policy.reloads = telemetry.reloads
        s.policy.reloadFailures = telemetry.reloadFailures
        s.policy.lastReloadError = telemetry.lastReloadError

        s.kernel.features = sensor.capabilitySummary
        s.kernel.blockingEnforced = sensor.blockingEnforced
        s.kernel.attachedPrograms = sensor.attachedPrograms
        s.kernel.failedPrograms = sensor.failedPrograms
        s.kernel.bpfStatsEnabled = BPFStats.sysctlEnabled()
        if telemetry.bpfStatsFD >= 0 { s.kernel.bpfStatsEnabled = true }  // held by this agent
        s.kernel.programs = sensor.programStatistics().map {
            AgentSnapshot.ProgramStatistics(name: $0.name, runTimeNs: $0.runTimeNs, runCount: $0.runCount)
        }

        let p = pipeline.statistics
        s.events.recordsByType = p.recordsByType.byName
        s.events.decisionsByAction = p.decisions.byAction
        s.events.denialsByOperation = p.decisions.deniedByOperationName
        s.events.documents = p.documents
        s.events.alerts = p.alerts
        s.events.redecided = p.redecided

        let loss = sensor.lossCounters()
        for type in LossCounters.EventType.allCases {
            s.losses.losses.append(AgentSnapshot.Loss(type: type.metricName, reason: "ring_buffer_full",
                                                      count: loss.reserveFailures[type] ?? 0))
        }
        s.losses.losses.append(AgentSnapshot.Loss(type: "any", reason: "consumer_behind", count: loss.streamDrops))
        s.losses.decodeErrors = loss.decodeErrors
        if let d = drain {
            let reader = d.statistics
            s.losses.readerBackpressureWaits = reader.backpressureWaits
            s.losses.readerBackpressureSeconds = Double(reader.backpressureNs) / 1e9
            s.queues.append(AgentSnapshot.QueueDepth(name: "ring_reader_handoff_events", depth: UInt64(d.queuedEvents),
                                                     capacity: UInt64(d.limitEvents)))
        }

        let out = sink.statistics
        s.output.documentsSent = out.documentsWritten
        s.output.documentsDropped = out.documentsDropped
        s.output.bytesSent = out.bytesWritten
        s.output.documentsRetried = out.retries
        s.output.documentsDeadLettered = out.documentsDeadLettered
        s.output.bulkRequests = out.bulkRequests
        s.output.bulkLatencySecondsSum = out.bulkLatencySecondsSum
        s.output.lastError = out.lastError

        if let handoff = sink as? OutputThread {
            s.queues.append(AgentSnapshot.QueueDepth(name: "output_handoff_bytes", depth: UInt64(handoff.pendingBytes),
                                                     capacity: UInt64(handoff.capacityBytes)))
        }
        if configuration.output == .elasticsearch {
            s.queues.append(AgentSnapshot.QueueDepth(name: "disk_queue_documents", depth: out.documentsQueued, capacity: 0))
            s.queues.append(AgentSnapshot.QueueDepth(name: "disk_queue_bytes", depth: out.queueBytes,
                                                     capacity: UInt64(max(0, configuration.queueMaxSize))))
        }
        if let ring = sensor.ringBufferFill() {
            s.queues.append(AgentSnapshot.QueueDepth(name: "kernel_ring_buffer_bytes", depth: ring.pending, capacity: ring.capacity))
        }

        s.enrichment.processes = UInt64(pipeline.processes.count)
        s.enrichment.containers = UInt64(containers.containerCount)
        if let k = kubernetes {
            // Every watch after the first of each watched resource is a restart (reconnects, 410 relists).
            let restarts = max(0, k.podStatistics.watches - 1) + max(0, k.namespaceStatistics.watches - 1)
            s.enrichment.kubernetesWatchRestarts = UInt64(restarts)
        }
        s.process = AgentSnapshot.ProcessUsage.current()
        return s
    }
}

extension LossCounters.EventType {
    var metricName: String {
        switch self {
        case .fork: return "fork"
        case .exec: return "exec"
        case .exit: return "exit"
        case .setsid: return "setsid"
        case .file: return "file"
        case .cgroupMkdir: return "cgroup_mkdir"
        case .cgroupRmdir: return "cgroup_rmdir"
        }
    }
}

/// Optional sensor introspection: a stand-in sensor reports none of it.
extension KernelSensor {
    public var attachedPrograms: [String] { [] }
    public var failedPrograms: [String: String] { [:] }
    public func programStatistics() -> [BPFProgramStatistics] { [] }
    public func ringBufferFill() -> (pending: UInt64, capacity: UInt64)? { nil }
}

extension Sensor {
    public var attachedPrograms: [String] { capabilities.attached }
    public var failedPrograms: [String: String] { capabilities.failed }
}
