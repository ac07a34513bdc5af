import ArgumentParser
import DefendAgent
import DefendPolicy

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the agent: load the policy into the kernel and stream ECS documents (NDJSON).",
        discussion: """
            Documents go to standard output (or --output), one per line, each naming its data stream
            (logs-cloud_defend.process|file|alerts-<namespace>) in data_stream.*. Diagnostics go to stderr.
            SIGINT/SIGTERM stop the agent after flushing; SIGHUP (or editing the policy file) reloads the
            policy, and a policy that does not validate leaves the previous one in force.
            """)

    @Option(name: .long, help: "Policy file (YAML). Default: the built-in default policy.")
    var policy: String?

    @Option(name: .long, help: "containers (D4C behaviour) or all (also host processes).")
    var scope: String = "containers"

    @Option(name: .long, help: "Write NDJSON here instead of standard output (appends).")
    var output: String?

    @Option(name: .long, help: "Create this file once the sensor is attached and the policy is enforced.")
    var readyFile: String?

    @Option(name: .long, help: "Directory for persistent state (the agent id).")
    var stateDir: String = "/var/lib/defend"

    @Option(name: .long, help: "data_stream.namespace of every document.")
    var namespace: String = "default"

    @Option(name: .long, help: "cloud_defend.package_policy_id of every document.")
    var packagePolicyId: String?

    @Option(name: .long, help: "cloud_defend.package_policy_revision of every document.")
    var packagePolicyRevision: Int?

    @Option(name: .long, help: "Kernel ring buffer size in MiB (power of two).")
    var ringBufferMib: Int = 8

    @Option(name: .long, help: "Seconds between statistics lines on stderr (0: only at exit).")
    var statsInterval: Int = 60

    @Option(name: .long, help: ArgumentHelp(
        "State directory of a containerd besides /run/containerd (its `state` setting); repeatable.",
        discussion: "Container bundles (config.json with image and pod annotations) are read from <DIR>/io.containerd.runtime.v2.task."))
    var containerdState: [String] = []

    @Option(name: .long, help: "Seconds between heartbeat documents (metrics-cloud_defend.heartbeat-*; 0: none).")
    var heartbeatInterval: Int = 1800

    @Flag(name: .long, help: "Do not probe cloud instance metadata.")
    var noCloudMetadata = false

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
        guard PolicyScope(rawValue: scope) != nil else {
            throw ValidationError("--scope must be 'containers' or 'all', not '\(scope)'")
        }
        guard ringBufferMib > 0, ringBufferMib & (ringBufferMib - 1) == 0, ringBufferMib <= 1024 else {
            throw ValidationError("--ring-buffer-mib must be a power of two between 1 and 1024")
        }
    }

    func run() throws {
        var config = AgentConfiguration()
        config.policyPath = policy
        config.scope = PolicyScope(rawValue: scope) ?? .containers
        config.outputPath = output
        config.readyFile = readyFile
        config.stateDirectory = stateDir
        config.dataStreamNamespace = namespace
        config.packagePolicyID = packagePolicyId
        config.packagePolicyRevision = packagePolicyRevision
        config.ringBufferBytes = ringBufferMib << 20
        config.statisticsInterval = statsInterval
        config.cloudMetadata = !noCloudMetadata
        config.containerdStateDirectories = containerdState
        config.heartbeatInterval = max(0, heartbeatInterval)
        let kube = AgentConfiguration.kubernetesSettings(kubeconfig: kubeconfig, nodeName: nodeName,
                                                         clusterName: clusterName, disabled: noKubernetes)
        if let note = kube.note { AgentLog.warning(note) }
        config.kubernetes = kube.settings
        let agent: Agent
        do {
            agent = try Agent(configuration: config)
        } catch {
            AgentLog.error("cannot start: \(error)")
            throw ExitCode(2)
        }
        let status = agent.run()
        if status != 0 { throw ExitCode(status) }
    }
}
