/// Everything an operator can read about a running agent, as one immutable value. The agent's event
/// loop builds it (at a bounded rate) and publishes it; the metrics endpoint and the status socket only
/// read the latest one, so they never touch the loop's state.
///
/// Counters are totals since start. Fields that another part of the agent has not wired yet stay 0 and
/// say so in their comment.
public struct AgentSnapshot: Sendable, Hashable, Codable {
    /// CLOCK_BOOTTIME when the loop published this snapshot (liveness: a stuck loop stops publishing).
    public var publishedBootNs: UInt64 = 0
    /// CLOCK_BOOTTIME when a ring-buffer poll last returned (every record available then was consumed).
    public var lastDrainBootNs: UInt64 = 0
    /// Unix seconds when the agent started.
    public var startedUnixSeconds: Int64 = 0
    public var version = ""
    public var agentID = ""
    /// Probes attached and a policy enforced; false while starting and once stopping.
    public var ready = false
    public var phase: Phase = .starting

    public var policy = PolicyState()
    public var kernel = KernelState()
    public var events = EventCounters()
    public var losses = LossState()
    public var output = OutputState()
    public var queues: [QueueDepth] = []
    public var enrichment = EnrichmentState()
    public var process = ProcessUsage()

    public init() {}

    public enum Phase: String, Sendable, Hashable, Codable { case starting, running, stopping }

    public struct PolicyState: Sendable, Hashable, Codable {
        /// Kernel generation of the policy in force (the double-buffer slot swapped on each reload).
        public var generation: UInt32 = 0
        /// The policy file; nil when the built-in default policy runs.
        public var file: String?
        /// "process: 1 selectors/1 responses; file: ..."
        public var summary = ""
        public var reloads: UInt64 = 0
        public var reloadFailures: UInt64 = 0
        public var lastReloadError: String?
        public var blockActions = false
        public init() {}
    }

    public struct KernelState: Sendable, Hashable, Codable {
        /// The sensor's one-paragraph feature summary (what is on, and why something is off).
        public var features = ""
        public var blockingEnforced = false
        public var attachedPrograms: [String] = []
        public var failedPrograms: [String: String] = [:]
        /// `kernel.bpf_stats_enabled`: nil when it cannot be read. Run time and count stay 0 while off.
        public var bpfStatsEnabled: Bool?
        public var programs: [ProgramStatistics] = []
        public init() {}
    }

    public struct ProgramStatistics: Sendable, Hashable, Codable {
        public var name: String
        public var runTimeNs: UInt64
        public var runCount: UInt64
        public init(name: String, runTimeNs: UInt64, runCount: UInt64) {
            self.name = name; self.runTimeNs = runTimeNs; self.runCount = runCount
        }
    }

    public struct EventCounters: Sendable, Hashable, Codable {
        /// Kernel records received, by record type (fork, exec, exit, setsid, file, cgroup).
        public var recordsByType: [String: UInt64] = [:]
        /// Records whose decision carried an action, by action (log, alert, block).
        public var decisionsByAction: [String: UInt64] = [:]
        /// Operations the kernel refused, by policy operation (exec, createFile, ...).
        public var denialsByOperation: [String: UInt64] = [:]
        public var documents: UInt64 = 0
        public var alerts: UInt64 = 0
        /// Fork/exec records decided again in user space (they raced their container's registration).
        public var redecided: UInt64 = 0
        public init() {}
    }

    public struct LossState: Sendable, Hashable, Codable {
        public var losses: [Loss] = []
        /// Records user space could not decode.
        public var decodeErrors: UInt64 = 0
        /// Times the ring-buffer reader found its hand-off to the loop full and waited (records then
        /// wait in the kernel's ring; a full ring is counted in `losses`), and the seconds it waited.
        public var readerBackpressureWaits: UInt64 = 0
        public var readerBackpressureSeconds: Double = 0
        public init() {}
        public var total: UInt64 { losses.reduce(0) { $0 &+ $1.count } }
    }

    /// Records lost before user space saw them: `reason` is `ring_buffer_full` (the kernel could not
    /// reserve ring-buffer space) or `consumer_behind` (a bounded user-space queue was full).
    public struct Loss: Sendable, Hashable, Codable {
        public var type: String
        public var reason: String
        public var count: UInt64
        public init(type: String, reason: String, count: UInt64) { self.type = type; self.reason = reason; self.count = count }
    }

    public struct OutputState: Sendable, Hashable, Codable {
        /// Documents the output delivered (written to the file/stdout, or acknowledged by Elasticsearch).
        public var documentsSent: UInt64 = 0
        /// Documents sent again after a retryable failure (Elasticsearch output; 0 until wired).
        public var documentsRetried: UInt64 = 0
        /// Documents given up on and kept in the dead-letter store (Elasticsearch output; 0 until wired).
        public var documentsDeadLettered: UInt64 = 0
        /// Documents lost: the destination failed and there is nowhere to keep them.
        public var documentsDropped: UInt64 = 0
        public var bytesSent: UInt64 = 0
        /// Bulk requests completed and their summed latency (Elasticsearch output; 0 until wired).
        public var bulkRequests: UInt64 = 0
        public var bulkLatencySecondsSum: Double = 0
        public var lastError: String?
        public init() {}
    }

    /// A bounded queue between two stages: how full it is now.
    public struct QueueDepth: Sendable, Hashable, Codable {
        public var name: String
        public var depth: UInt64
        /// 0 when the queue has no fixed capacity.
        public var capacity: UInt64
        public init(name: String, depth: UInt64, capacity: UInt64) { self.name = name; self.depth = depth; self.capacity = capacity }
    }

    public struct EnrichmentState: Sendable, Hashable, Codable {
        public var processes: UInt64 = 0
        public var containers: UInt64 = 0
        /// Kubernetes API watches restarted (Kubernetes metadata; 0 until wired).
        public var kubernetesWatchRestarts: UInt64 = 0
        public init() {}
    }

    /// The agent process itself, from /proc/self.
    public struct ProcessUsage: Sendable, Hashable, Codable {
        public var cpuSeconds: Double = 0
        public var residentBytes: UInt64 = 0
        public init() {}
    }
}
