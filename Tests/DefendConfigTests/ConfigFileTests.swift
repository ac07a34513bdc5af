import DefendAgent
import DefendConfig
import DefendOutput
import DefendPolicy
import Foundation
import Testing

/// Writes `text` to a fresh file and loads it as `defend run --config` would.
func loadConfig(_ text: String, environment: [String: String] = [:], name: String = "defend.yaml")
    throws(ConfigError) -> AgentConfiguration {
    let dir = NSTemporaryDirectory() + "defend-config-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/" + name
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    var c = AgentConfiguration()
    try ConfigurationFile.load(path: path, into: &c, environment: environment)
    return c
}

func configErrors(_ text: String, environment: [String: String] = [:]) -> [ConfigDiagnostic] {
    do {
        _ = try loadConfig(text, environment: environment)
        return []
    } catch {
        return error.diagnostics
    }
}

@Suite struct ConfigFileTests {
    @Test func fullElasticsearchExampleLoads() throws {
        let c = try loadConfig("""
            policy: policies/p.yaml
            scope: all
            output:
              elasticsearch:
                hosts: ["https://es1:9200", "https://es2:9200"]
                api_key: "${ES_API_KEY}"
                ssl:
                  certificate_authorities: [/etc/defend/ca.pem]
                  verification_mode: certificate
                  certificate: client.pem
                  key: client.key
                namespace: prod
                bulk_max_size: 500
                flush_interval: 250ms
                compression_level: 3
            queue:
              path: /var/lib/defend/queue
              max_size: 2GiB
            """, environment: ["ES_API_KEY": "id:supersecret"])
        #expect(c.output == .elasticsearch)
        #expect(c.elasticsearch.hosts == ["https://es1:9200", "https://es2:9200"])
        #expect(c.elasticsearch.apiKey?.reveal() == "id:supersecret")
        #expect(c.elasticsearch.tls.verificationMode == .certificate)
        #expect(c.elasticsearch.tls.certificateAuthorities == ["/etc/defend/ca.pem"])
        #expect(c.elasticsearch.tls.certificate?.hasSuffix("/client.pem") == true)
        #expect(c.elasticsearch.tls.certificate?.hasPrefix("/") == true)
        #expect(c.policyPath?.hasSuffix("/policies/p.yaml") == true)
        #expect(c.dataStreamNamespace == "prod")
        #expect(c.elasticsearch.bulkMaxSize == 500)
        #expect(c.elasticsearch.flushInterval == 0.25)
        #expect(c.elasticsearch.compressionLevel == 3)
        #expect(c.queueMaxSize == 2 << 30)
        #expect(c.scope == .all)
        #expect(c.queueSettings.path == "/var/lib/defend/queue")
    }

    @Test func dottedKeysReachTheSameSettings() throws {
        let c = try loadConfig("""
            output.elasticsearch.hosts: http://localhost:9200
            output.elasticsearch.username: elastic
            output.elasticsearch.password: changeme
            """)
        #expect(c.elasticsearch.hosts == ["http://localhost:9200"])
        #expect(c.elasticsearch.username == "elastic")
    }

    @Test func unknownKeyIsReportedWithLineAndColumn() {
        let errors = configErrors("""
            scope: all
            output:
              elasticsearch:
                hosts: [http://a:9200]
                bulk_max_sise: 10
            """)
        #expect(errors.count == 1)
        let e = errors[0]
        #expect(e.location.line == 5)
        #expect(e.location.column == 5)
        #expect(e.key == "output.elasticsearch.bulk_max_sise")
        #expect(e.description.contains("defend.yaml:5:5: error: output.elasticsearch.bulk_max_sise: unknown key"))
        #expect(e.message.contains("bulk_max_size"))
    }

    @Test func wrongTypesAreReportedAllAtOnce() {
        let errors = configErrors("""
            scope: everything
            output:
              elasticsearch:
                hosts: [ftp://a]
                bulk_max_size: lots
                compression_level: 12
                ssl: yes
            queue:
              max_size: huge
            """)
        let byKey = Dictionary(errors.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byKey["scope"]?.location.line == 1)
        #expect(byKey["scope"]?.location.column == 8)
        #expect(byKey["output.elasticsearch.hosts"]?.location.line == 4)
        #expect(byKey["output.elasticsearch.hosts"]?.location.column == 13)
        #expect(byKey["output.elasticsearch.bulk_max_size"]?.message.contains("integer") == true)
        #expect(byKey["output.elasticsearch.compression_level"]?.message.contains("between 0 and 9") == true)
        #expect(byKey["output.elasticsearch.ssl"]?.message.contains("mapping") == true)
        #expect(byKey["queue.max_size"]?.location.line == 9)
    }

    @Test func secretsNeverAppearInErrorsOrDescriptions() throws {
        let secret = "s3cr3t-value-xyz"
        // A wrong type on a secret key: the message must not quote the value.
        let errors = configErrors("""
            output:
              elasticsearch:
                hosts: [http://a:9200]
                api_key: [\(secret)]
                password: ${PW}
            """, environment: ["PW": secret])
        #expect(!errors.isEmpty)
        for e in errors { #expect(!e.description.contains(secret)) }
        // A YAML syntax error next to a secret: Yams' message quotes the document, ours must not.
        let syntax = configErrors("output:\n  elasticsearch:\n    api_key: \"\(secret)\n    hosts: [\n")
        #expect(syntax.count == 1)
        #expect(!syntax[0].description.contains(secret))
        #expect(syntax[0].location.line > 0)
        // Loaded secrets print as <redacted> everywhere.
        let c = try loadConfig("""
            output.elasticsearch.hosts: [http://a:9200]
            output.elasticsearch.username: u
            output.elasticsearch.password: ${PW}
            """, environment: ["PW": secret])
        #expect("\(c.elasticsearch.password!)" == "<redacted>")
        #expect(!String(describing: c).contains(secret))
        #expect(!String(reflecting: c.elasticsearch).contains(secret))
        var dumped = ""
        dump(c.elasticsearch, to: &dumped)
        #expect(!dumped.contains(secret))
    }

    @Test func environmentSubstitution() throws {
        let c = try loadConfig("""
            namespace: ${NS}
            state_dir: ${MISSING:/tmp/defend-state}
            output.file.path: /var/log/$${literal}
            """, environment: ["NS": "team1"])
        #expect(c.dataStreamNamespace == "team1")
        #expect(c.stateDirectory == "/tmp/defend-state")
        #expect(c.outputPath == "/var/log/${literal}")
        let errors = configErrors("namespace: ${NOT_SET}\n")
        #expect(errors.count == 1)
        #expect(errors[0].message.contains("NOT_SET is not set"))
        #expect(errors[0].location.line == 1)
        // A variable's value is data, never YAML structure.
        let c2 = try loadConfig("state_dir: ${S}\n", environment: ["S": "/a\nscope: all"])
        #expect(c2.scope == .containers)
        #expect(c2.stateDirectory == "/a\nscope: all")
    }

    @Test func namespaceFollowsDataStreamRules() {
        for bad in ["Prod", "a-b", "a b", "a*b", "_x", "", String(repeating: "a", count: 101), "a:b", "a#b"] {
            #expect(DataStreamNamespace.problem(bad) != nil, "\(bad) should be refused")
        }
        for good in ["default", "prod", "team_1", "x.y"] {
            #expect(DataStreamNamespace.problem(good) == nil, "\(good) should be accepted")
        }
        let errors = configErrors("namespace: Prod-1\n")
        #expect(errors.count == 1)
        #expect(errors.first?.location.line == 1)
    }

    @Test func crossKeyChecks() {
        let two = configErrors("""
            output:
              file: {path: /tmp/x}
              elasticsearch: {hosts: [http://a:9200]}
            """)
        #expect(two.contains { $0.message.contains("only one output") })
        let auth = configErrors("""
            output.elasticsearch:
              hosts: [http://a:9200]
              api_key: a:b
              bearer_token: t
            """)
        #expect(auth.contains { $0.message.contains("only one of api_key") })
        let policies = configErrors("""
            policy: /p.yaml
            policy_inline: {process: {selectors: [], responses: []}}
            """)
        #expect(policies.contains { $0.key == "policy_inline" })
        let dup = configErrors("scope: all\nscope: containers\n")
        #expect(dup.count == 1)
        #expect(dup.first?.description.contains("scope") == true)
        #expect(dup.first?.description.contains("twice") == true)
    }

    @Test func inlinePolicyIsKeptAsYAML() throws {
        let c = try loadConfig("""
            policy_inline:
              process:
                selectors:
                  - name: shells
                    operation: [exec]
                    processName: [bash]
                responses:
                  - match: [shells]
                    actions: [alert]
            """)
        let text = try #require(c.policyInline)
        let loaded = try PolicyLoader.parse(yaml: text)
        #expect(loaded.policy.process?.selectors.count == 1)
    }

    @Test func kubernetesAndOperationsKeys() throws {
        let c = try loadConfig("""
            kubernetes:
              kubeconfig: kube/config
              node_name: node-7
              cluster_name: prod-eu
            metrics:
              address: 127.0.0.1:9479
              bpf_stats: true
            status:
              socket: ""
            logging:
              format: json
              level: debug
            """)
        #expect(c.kubeconfigPath?.hasSuffix("/kube/config") == true)
        #expect(c.nodeName == "node-7")
        #expect(c.clusterName == "prod-eu")
        #expect(c.kubernetesEnabled)
        #expect(c.metricsAddress == "127.0.0.1:9479")
        #expect(c.bpfStatistics)
        #expect(c.statusSocketPath == nil)
        #expect(c.logFormat == "json")
        #expect(c.logLevel == "debug")
        let off = try loadConfig("kubernetes:\n  enabled: false\n")
        #expect(!off.kubernetesEnabled)
        let bad = configErrors("metrics:\n  address: nowhere\nlogging:\n  format: xml\n")
        #expect(bad.map(\.key).sorted() == ["logging.format", "metrics.address"])
        #expect(bad.allSatisfy { $0.location.line > 0 })
    }

    @Test func missingFileIsAnError() {
        var c = AgentConfiguration()
        #expect(throws: ConfigError.self) { try ConfigurationFile.load(path: "/nonexistent/defend.yaml", into: &c) }
    }
}
