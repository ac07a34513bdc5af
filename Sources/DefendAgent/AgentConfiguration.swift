import Foundation
import DefendKubernetes
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
    /// Kubernetes metadata (pods of this node from the API server, cluster id and name); nil = none.
    /// `defend run` sets it from --kubeconfig / KUBECONFIG / the in-cluster environment, --node-name
    /// and --cluster-name.
    public var kubernetes: KubernetesSettings?

    public init() {}
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

