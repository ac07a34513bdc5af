import DefendConfig
import DefendTelemetry
import Logging
import DefendOutput
import DefendPolicy
import Foundation

/// The configuration file of `defend run --config FILE` (and `defend setup`, `defend config validate`).
/// Key names follow Beats / Elastic Agent where they exist. **To add a setting, add one line to
/// `keys`**: the key, the `AgentConfiguration` field, and its type; unknown keys and wrong types are
/// reported as `FILE:LINE:COL` by the loader, `${VAR}` is substituted, secret values never printed.
public enum ConfigurationFile {
    public static var keys: [ConfigKey<AgentConfiguration>] {
        typealias K = ConfigKey<AgentConfiguration>
        return [
            .path("policy", \.policyPath, help: "policy file (relative to this file)"),
            K("policy_inline", help: "the policy itself (YAML)") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                c.policyInline = try v.yamlText()
            },
            .choice("scope", \.scope, help: "containers or all"),
            .string("namespace", \.dataStreamNamespace, help: "data_stream.namespace"),
            .path("state_dir", \.stateDirectory, help: "persistent state (agent id, default queue)"),
            .path("ready_file", \.readyFile),
            .string("package_policy.id", \.packagePolicyID),
            .int("package_policy.revision", \.packagePolicyRevision, in: 0...Int(Int32.max)),
            K("ring_buffer_size", help: "kernel ring buffer, a power of two") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                let b = try v.byteSize(in: 1 << 20...1 << 30)
                guard b & (b - 1) == 0 else { throw ConfigFieldError("must be a power of two (1MiB, 8MiB, ...)") }
                c.ringBufferBytes = Int(b)
            },
            K("statistics_interval") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                c.statisticsInterval = Int(try v.duration(in: 0...86400))
            },
            K("heartbeat_interval") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                c.heartbeatInterval = Int(try v.duration(in: 0...86400))
            },
            .bool("cloud_metadata", \.cloudMetadata),
            .paths("containerd.state_dirs", \.containerdStateDirectories),
            .duration("shutdown_timeout", \.shutdownTimeout, in: 0...3600),

            // kubernetes: pod metadata from the API server
            .bool("kubernetes.enabled", \.kubernetesEnabled, help: "watch the API server when one is configured or in-cluster"),
            .path("kubernetes.kubeconfig", \.kubeconfigPath, help: "kubeconfig file (default KUBECONFIG, else in-cluster)"),
            .string("kubernetes.node_name", \.nodeName, help: "node whose pods are watched (default NODE_NAME, else the host name)"),
            .string("kubernetes.cluster_name", \.clusterName, help: "orchestrator.cluster.name and kubernetesClusterName"),

            // operations: metrics/health endpoint, status socket, diagnostics
            K("metrics.address", help: "HOST:PORT serving /metrics, /healthz and /readyz (off when absent)") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                let a = try v.nonEmptyString()
                do { _ = try ListenAddress(parsing: a) } catch { throw ConfigFieldError("\(error)") }
                c.metricsAddress = a
            },
            .bool("metrics.bpf_stats", \.bpfStatistics, help: "turn on the kernel's BPF run-time statistics while running"),
            K("status.socket", help: "root-only Unix socket of `defend status` (\"\" for none)") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                let s = try v.string()
                c.statusSocketPath = s.isEmpty ? nil : s
            },
            K("logging.format", help: "text or json") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                c.logFormat = try v.choice(LogFormat.allCases.map(\.rawValue))
            },
            K("logging.level", help: Logger.Level.names.joined(separator: ", ")) { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                c.logLevel = try v.choice(Logger.Level.names)
            },

            // output.console / output.file
            K("output.console", help: "NDJSON on standard output ({})") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                if case .mapping(let pairs) = v.node.kind, let first = pairs.first {
                    throw ConfigFieldError("takes no settings ('\(first.key)')", at: first.keyLocation)
                }
                c.output = .console
            },
            K("output.file.path", help: "NDJSON appended to this file") { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
                c.outputPath = try v.path()
                c.output = .file
            },

            // output.elasticsearch
            es("hosts") { c, v throws(ConfigFieldError) in
                c.elasticsearch.hosts = try v.list { (e: ConfigValue) throws(ConfigFieldError) in
                    let h = try e.nonEmptyString()
                    guard h.hasPrefix("http://") || h.hasPrefix("https://") else {
                        throw ConfigFieldError("'\(h)' must start with http:// or https://")
                    }
                    return h
                }
                if c.elasticsearch.hosts.isEmpty { throw ConfigFieldError("at least one host is required") }
            },
            es("api_key", secret: true) { c, v throws(ConfigFieldError) in c.elasticsearch.apiKey = try v.secret() },
            es("username") { c, v throws(ConfigFieldError) in c.elasticsearch.username = try v.nonEmptyString() },
            es("password", secret: true) { c, v throws(ConfigFieldError) in c.elasticsearch.password = try v.secret() },
            es("bearer_token", secret: true) { c, v throws(ConfigFieldError) in c.elasticsearch.bearerToken = try v.secret() },
            es("namespace") { c, v throws(ConfigFieldError) in c.dataStreamNamespace = try v.nonEmptyString() },
            es("ssl.certificate_authorities") { c, v throws(ConfigFieldError) in
                c.elasticsearch.tls.certificateAuthorities = try v.list { (e: ConfigValue) throws(ConfigFieldError) in try e.path() }
            },
            es("ssl.verification_mode") { c, v throws(ConfigFieldError) in
                let s = try v.choice(TLSSettings.VerificationMode.allCases.map(\.rawValue))
                c.elasticsearch.tls.verificationMode = TLSSettings.VerificationMode(rawValue: s) ?? .full
            },
            es("ssl.certificate") { c, v throws(ConfigFieldError) in c.elasticsearch.tls.certificate = try v.path() },
            es("ssl.key") { c, v throws(ConfigFieldError) in c.elasticsearch.tls.key = try v.path() },
            es("ssl.key_passphrase", secret: true) { c, v throws(ConfigFieldError) in c.elasticsearch.tls.keyPassphrase = try v.secret() },
            es("bulk_max_size") { c, v throws(ConfigFieldError) in c.elasticsearch.bulkMaxSize = try v.int(in: 1...100_000) },
            es("bulk_max_bytes") { c, v throws(ConfigFieldError) in c.elasticsearch.bulkMaxBytes = try v.byteSize(in: 64 << 10...100 << 20) },
            es("flush_interval") { c, v throws(ConfigFieldError) in c.elasticsearch.flushInterval = try v.duration(in: 0.001...60) },
            es("compression_level") { c, v throws(ConfigFieldError) in c.elasticsearch.compressionLevel = try v.int(in: 0...9) },
            es("timeout") { c, v throws(ConfigFieldError) in c.elasticsearch.timeout = try v.duration(in: 0.1...600) },
            es("backoff.init") { c, v throws(ConfigFieldError) in c.elasticsearch.backoffInit = try v.duration(in: 0.001...60) },
            es("backoff.max") { c, v throws(ConfigFieldError) in c.elasticsearch.backoffMax = try v.duration(in: 0.001...3600) },
            es("dead_letter_path") { c, v throws(ConfigFieldError) in c.elasticsearch.deadLetterPath = try v.path() },

            // queue
            .path("queue.path", \.queuePath, help: "disk queue directory"),
            .byteSize("queue.max_size", \.queueMaxSize, in: 1 << 20...1 << 50),
            .byteSize("queue.segment_size", \.queueSegmentSize, in: 64 << 10...1 << 30),
            .duration("queue.sync_interval", \.queueSyncInterval, in: 0.001...1),
        ]
    }

    /// An `output.elasticsearch.<name>` key; giving any selects the Elasticsearch output.
    private static func es(_ name: String, secret: Bool = false,
                           _ set: @escaping (inout AgentConfiguration, ConfigValue) throws(ConfigFieldError) -> Void)
        -> ConfigKey<AgentConfiguration> {
        ConfigKey("output.elasticsearch." + name, secret: secret) { (c: inout AgentConfiguration, v: ConfigValue) throws(ConfigFieldError) in
            try set(&c, v)
            c.output = .elasticsearch
        }
    }

    public static var schema: ConfigSchema<AgentConfiguration> { ConfigSchema(keys) }

    /// Loads `path` over `configuration` and checks what single keys cannot: one output, one policy,
    /// a usable Elasticsearch setup, a valid namespace. Every finding is in the error.
    @discardableResult
    public static func load(path: String, into configuration: inout AgentConfiguration,
                            environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigError) -> ConfigLoader.Result {
        var c = configuration
        let result = try ConfigLoader.load(path: path, schema: schema, into: &c, environment: environment)
        var findings: [ConfigDiagnostic] = []
        func at(_ key: String) -> ConfigLocation { result.locations[key] ?? ConfigLocation(file: path, line: 0, column: 0) }
        func first(_ prefix: String) -> String? { result.appliedKeys.first { $0 == prefix || $0.hasPrefix(prefix + ".") } }

        let outputs = ["output.console", "output.file", "output.elasticsearch"].compactMap(first)
        if outputs.count > 1 {
            findings.append(ConfigDiagnostic(location: at(outputs[1]), key: outputs[1],
                                             message: "only one output may be configured (also \(outputs[0]))"))
        }
        if result.locations["policy"] != nil, result.locations["policy_inline"] != nil {
            findings.append(ConfigDiagnostic(location: at("policy_inline"), key: "policy_inline",
                                             message: "give either policy or policy_inline, not both"))
        }
        if result.locations["namespace"] != nil, result.locations["output.elasticsearch.namespace"] != nil {
            findings.append(ConfigDiagnostic(location: at("output.elasticsearch.namespace"), key: "output.elasticsearch.namespace",
                                             message: "the namespace is already given (top-level namespace)"))
        }
        if let problem = DataStreamNamespace.problem(c.dataStreamNamespace) {
            let key = result.locations["output.elasticsearch.namespace"] != nil ? "output.elasticsearch.namespace" : "namespace"
            findings.append(ConfigDiagnostic(location: at(key), key: key, message: problem))
        }
        if c.output == .elasticsearch, let problem = c.elasticsearch.problem() {
            let key = first("output.elasticsearch") ?? "output.elasticsearch"
            findings.append(ConfigDiagnostic(location: at(key), key: "output.elasticsearch",
                                             message: problem.replacingOccurrences(of: "output.elasticsearch: ", with: "")))
        }
        if c.queueSegmentSize > 0, c.queueSegmentSize * 2 > c.queueMaxSize {
            findings.append(ConfigDiagnostic(location: at("queue.segment_size"), key: "queue.segment_size",
                                             message: "must be at most half of queue.max_size"))
        }
        if !findings.isEmpty { throw ConfigError(findings) }
        configuration = c
        return result
    }
}
