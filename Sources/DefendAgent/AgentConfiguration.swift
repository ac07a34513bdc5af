import Foundation
import DefendKubernetes
import DefendOutput
import DefendPolicy

/// Everything `defend run` needs to know, from the configuration file (`ConfigurationFile`) and
/// flags (which override the file).
public struct AgentConfiguration: Sendable {
    /// Policy file; nil (and no `policyInline`) means the built-in default policy.
    public var policyPath: String?
    /// The policy's YAML text given in the configuration file (`policy_inline`).
    public var policyInline: String?
    /// D4C evaluates container activity only; `.all` adds host processes.
    public var scope: PolicyScope = .containers
    /// Where documents go.
    public var output: OutputKind = .console
    /// NDJSON destination of the file output; nil or "-" means standard output.
    public var outputPath: String? {
        didSet { output = (outputPath == nil || outputPath == "-") ? .console : .file }
    }
    /// `output.elasticsearch.*`.
    public var elasticsearch = ElasticsearchSettings()
    /// The disk queue of the Elasticsearch output; default `<stateDirectory>/queue`.
    public var queuePath: String?
    public var queueMaxSize: Int64 = 1 << 30
    public var queueSegmentSize: Int64 = 0
    public var queueSyncInterval: Double = 0.2
    /// At SIGTERM, the output gets this long to deliver; what is not acknowledged stays queued.
    public var shutdownTimeout: Double = 10
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
    /// Kubernetes metadata (pods of this node from the API server, cluster id and name); nil = none.
    /// `defend run` sets it from --kubeconfig / KUBECONFIG / the in-cluster environment, --node-name
    /// and --cluster-name.
    public var kubernetes: KubernetesSettings?
    /// What `kubernetes` is resolved from (config file `kubernetes.*`; the flags override them).
    public var kubeconfigPath: String?
    public var nodeName: String?
    public var clusterName: String?
    public var kubernetesEnabled = true
    /// `logging.format` (text|json) and `logging.level`; nil = the flags' defaults.
    public var logFormat: String?
    public var logLevel: String?

    public init() {}

    public enum OutputKind: String, Sendable, CaseIterable { case console, file, elasticsearch }

    /// The queue settings in force.
    public var queueSettings: QueueSettings {
        var q = QueueSettings(path: queuePath ?? stateDirectory + "/queue")
        q.maxSize = queueMaxSize
        q.segmentSize = queueSegmentSize
        q.syncInterval = queueSyncInterval
        return q
    }
}

extension AgentConfiguration {
    /// The Kubernetes settings `defend run` resolves from its flags and environment: the API server is
    /// watched with `--kubeconfig`, else `KUBECONFIG`, else in a pod (`KUBERNETES_SERVICE_HOST` and a
    /// service-account token); `--no-kubernetes` turns that off. `--cluster-name` alone names the
    /// cluster without watching. nil when there is nothing Kubernetes to do.
    public static func kubernetesSettings(kubeconfig: String?, nodeName: String?, clusterName: String?,
                                          disabled: Bool,
                                          environment: [String: String] = ProcessInfo.processInfo.environment,
                                          serviceAccountToken: String = KubernetesClientConfiguration.serviceAccountDirectory + "/token")
        -> (settings: KubernetesSettings?, note: String?) {
        var s = KubernetesSettings()
        s.kubeconfigPath = kubeconfig
        s.nodeName = nodeName
        s.clusterName = clusterName
        var note: String?
        if disabled {
            s.watch = false
        } else if kubeconfig != nil || environment["KUBECONFIG"].map({ !$0.isEmpty }) == true {
            s.watch = true
        } else if environment["KUBERNETES_SERVICE_HOST"].map({ !$0.isEmpty }) == true {
            s.watch = FileManager.default.fileExists(atPath: serviceAccountToken)
            if !s.watch {
                note = "KUBERNETES_SERVICE_HOST is set but there is no service-account token at \(serviceAccountToken): "
                    + "pod labels, namespaces and the cluster id stay unknown (give --kubeconfig FILE)"
            }
        } else {
            s.watch = false
        }
        if !s.watch && clusterName == nil { return (nil, note) }
        return (s, note)
    }
}

