import DefendPolicy

/// Everything `defend run` needs to know, resolved from flags.
public struct AgentConfiguration: Sendable {
    /// Policy file; nil means the built-in default policy.
    public var policyPath: String?
    /// D4C evaluates container activity only; `.all` adds host processes.
    public var scope: PolicyScope = .containers
    /// NDJSON destination; nil or "-" means standard output.
    public var outputPath: String?
    /// Created once the sensor is attached and the policy is enforced (for supervisors and tests).
    public var readyFile: String?
    /// Holds the persistent agent id.
    public var stateDirectory: String = "/var/lib/defend"
    /// `data_stream.namespace` of every document.
    public var dataStreamNamespace: String = "default"
    public var packagePolicyID: String?
    public var packagePolicyRevision: Int?
    public var ringBufferBytes: Int = 8 << 20
    /// Seconds between statistics lines on stderr (0 = only at exit).
    public var statisticsInterval: Int = 60
    /// Seconds between `metrics-cloud_defend.heartbeat-*` documents (one is written at start; 0 = none).
    public var heartbeatInterval: Int = 1800
    /// Skip the cloud instance-metadata probes (no cloud.* fields).
    public var cloudMetadata: Bool = true
    /// State directories of containerd instances besides the default ones (`/run/containerd`, ...), where
    /// the OCI bundles (config.json) of their containers are read from.
    public var containerdStateDirectories: [String] = []
    /// `HOST:PORT` of the HTTP endpoint serving /metrics, /healthz and /readyz; nil = off.
    /// (Config file: `metrics.address`.)
    public var metricsAddress: String?
    /// The root-only Unix socket `defend status` asks; nil = none.
    public var statusSocketPath: String? = "/run/defend/defend.sock"
    /// Turn on the kernel's BPF run-time statistics while the agent runs (per-program run time and count).
    public var bpfStatistics: Bool = false

    public init() {}
}
