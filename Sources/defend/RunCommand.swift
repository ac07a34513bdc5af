import ArgumentParser
import DefendAgent
import DefendPolicy
import DefendTelemetry
import Logging

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the agent: load the policy into the kernel and ship ECS documents.",
        discussion: """
            Settings come from --config FILE (YAML; see `defend config validate`) and flags, which override
            the file. Documents go to standard output (NDJSON) unless the file configures output.file or
            output.elasticsearch; --output FILE writes NDJSON to FILE. Diagnostics go to stderr.
            SIGINT/SIGTERM stop the agent after flushing (the Elasticsearch output has shutdown_timeout to
            deliver; the rest stays in the disk queue); SIGHUP reopens the output file and reloads the policy
            (a policy that does not validate leaves the previous one in force).
            Exit status: 0, 1 (kernel reader failed), 2 (cannot start), 3 (the output was failing at exit).
            """)

    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    @Option(name: .long, help: "Policy file (YAML). Default: the built-in default policy.")
    var policy: String?

    @Option(name: .long, help: "containers (D4C behaviour, the default) or all (also host processes).")
    var scope: String?

    @Option(name: .long, help: "Write NDJSON here instead of the configured output (appends; - is standard output).")
    var output: String?

    @Option(name: .long, help: "Create this file once the sensor is attached and the policy is enforced.")
    var readyFile: String?

    @Option(name: .long, help: "Directory for persistent state (the agent id; default /var/lib/defend).")
    var stateDir: String?

    @Option(name: .long, help: "data_stream.namespace of every document (default: default).")
    var namespace: String?

    @Option(name: .long, help: "cloud_defend.package_policy_id of every document.")
    var packagePolicyId: String?

    @Option(name: .long, help: "cloud_defend.package_policy_revision of every document.")
    var packagePolicyRevision: Int?

    @Option(name: .long, help: "Kernel ring buffer size in MiB (power of two; default 8).")
    var ringBufferMib: Int?

    @Option(name: .long, help: "Seconds between statistics lines on stderr (0: only at exit; default 60).")
    var statsInterval: Int?

    @Option(name: .long, help: ArgumentHelp(
        "State directory of a containerd besides /run/containerd (its `state` setting); repeatable.",
        discussion: "Container bundles (config.json with image and pod annotations) are read from <DIR>/io.containerd.runtime.v2.task."))
    var containerdState: [String] = []

    @Option(name: .long, help: "Seconds between heartbeat documents (metrics-cloud_defend.heartbeat-*; 0: none; default 1800).")
    var heartbeatInterval: Int?

    @Flag(name: .long, help: "Do not probe cloud instance metadata.")
    var noCloudMetadata = false

    @Option(name: .long, help: ArgumentHelp(
        "Serve Prometheus /metrics, /healthz and /readyz over HTTP on HOST:PORT (e.g. 127.0.0.1:9464). Default: off.",
        valueName: "host:port"))
    var metricsAddress: String?

    @Option(name: .long, help: ArgumentHelp(
        "Root-only Unix socket that `defend status` asks (\"\" for none; default \(defaultStatusSocketPath)).", valueName: "path"))
    var statusSocket: String?

    @Flag(name: .long, help: "Turn on the kernel's BPF run-time statistics while running (per-program run time and count in /metrics).")
    var bpfStats = false

    @OptionGroup var logging: LoggingOptions

    @Option(name: .long, help: ArgumentHelp(
        "kubeconfig of the API server to read pods from (default: KUBECONFIG, else the pod's service account).",
        valueName: "FILE"))
    var kubeconfig: String?

    @Option(name: .long, help: "Node whose pods are watched (default: NODE_NAME, else the host name).")
    var nodeName: String?

    @Option(name: .long, help: "orchestrator.cluster.name and kubernetesClusterName (Kubernetes has no API for it).")
    var clusterName: String?

    @Flag(name: .long, help: "Do not read pod metadata from the Kubernetes API server.")
    var noKubernetes = false

    func validate() throws {
        if let scope, PolicyScope(rawValue: scope) == nil {
            throw ValidationError("--scope must be 'containers' or 'all', not '\(scope)'")
        }
        for (flag, value) in [("--stats-interval", statsInterval), ("--heartbeat-interval", heartbeatInterval)] {
            if let value, !(0...Self.maxIntervalSeconds).contains(value) {
                throw ValidationError("\(flag) must be between 0 and \(Self.maxIntervalSeconds) seconds (one year), not \(value)")
            }
        }
        if let metricsAddress {
            do { _ = try ListenAddress(parsing: metricsAddress) } catch { throw ValidationError("--metrics-address: \(error)") }
        }
        if let ringBufferMib {
            guard ringBufferMib > 0, ringBufferMib & (ringBufferMib - 1) == 0, ringBufferMib <= 1024 else {
                throw ValidationError("--ring-buffer-mib must be a power of two between 1 and 1024")
            }
        }
    }

    /// Interval flags above a year are mistakes (and would overflow as nanoseconds).
    static let maxIntervalSeconds = 365 * 24 * 3600

    /// The file's settings, then the flags given on the command line.
    func resolvedConfiguration() throws -> AgentConfiguration {
        var config = AgentConfiguration()
        if let path = self.config {
            do {
                try ConfigurationFile.load(path: path, into: &config)
            } catch {
                AgentLog.error("configuration:\n\(error)")
                throw ExitCode(2)
            }
        }
        if let policy { config.policyPath = policy; config.policyInline = nil }
        if let scope { config.scope = PolicyScope(rawValue: scope) ?? .containers }
        if let output { config.outputPath = output }
        if let readyFile { config.readyFile = readyFile }
        if let stateDir { config.stateDirectory = stateDir }
        if let namespace { config.dataStreamNamespace = namespace }
        if let packagePolicyId { config.packagePolicyID = packagePolicyId }
        if let packagePolicyRevision { config.packagePolicyRevision = packagePolicyRevision }
        if let ringBufferMib { config.ringBufferBytes = ringBufferMib << 20 }
        if let statsInterval { config.statisticsInterval = statsInterval }
        if noCloudMetadata { config.cloudMetadata = false }
        if !containerdState.isEmpty { config.containerdStateDirectories = containerdState }
        if let heartbeatInterval { config.heartbeatInterval = max(0, heartbeatInterval) }
        if let metricsAddress { config.metricsAddress = metricsAddress.isEmpty ? nil : metricsAddress }
        if let statusSocket { config.statusSocketPath = statusSocket.isEmpty ? nil : statusSocket }
        if bpfStats { config.bpfStatistics = true }
        let kube = AgentConfiguration.kubernetesSettings(kubeconfig: kubeconfig ?? config.kubeconfigPath,
                                                         nodeName: nodeName ?? config.nodeName,
                                                         clusterName: clusterName ?? config.clusterName,
                                                         disabled: noKubernetes || !config.kubernetesEnabled)
        if let note = kube.note { AgentLog.warning(note) }
        config.kubernetes = kube.settings
        return config
    }

    func run() throws {
        // First of all: a SIGHUP or SIGTERM during start-up is recorded, not fatal.
        SignalWatcher.install()
        logging.apply()
        let config = try resolvedConfiguration()
        // The file's logging settings, unless flags gave them.
        logging.apply(fileFormat: config.logFormat, fileLevel: config.logLevel)
        // The endpoints come first, so /healthz and /readyz answer "starting" while the agent loads.
        let services: AgentServices
        do {
            services = try AgentServices(configuration: config)
        } catch {
            AgentLog.error("cannot start: \(error)")
            throw ExitCode(2)
        }
        defer { services.stop() }
        let agent: Agent
        do {
            agent = try Agent(configuration: config, snapshots: services.snapshots)
        } catch {
            AgentLog.error("cannot start: \(error)")
            throw ExitCode(2)
        }
        let status = agent.run()
        if status != 0 { throw ExitCode(status) }
    }
}
