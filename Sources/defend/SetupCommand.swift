import ArgumentParser
import DefendAgent
import DefendOutput

struct SetupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Make a self-managed Elasticsearch ready: ILM policy, alerts ingest pipeline, index templates.",
        discussion: """
            Uses output.elasticsearch of the configuration file (hosts, credentials, TLS). Checks the cluster
            version first (8.0 or later), then creates what is missing and updates what an older defend put
            there; run it again at any time (it reports created, updated or found for each resource).
            """)

    @Option(name: .long, help: "Configuration file (YAML) with output.elasticsearch.")
    var config: String

    func run() throws {
        var c = AgentConfiguration()
        do {
            try ConfigurationFile.load(path: config, into: &c)
        } catch {
            print(error.description)
            throw ExitCode(2)
        }
        guard c.output == .elasticsearch else {
            print("\(config): no output.elasticsearch section: nothing to set up")
            throw ExitCode(2)
        }
        do {
            let transport = try ElasticsearchTransport(settings: c.elasticsearch)
            defer { transport.shutdown() }
            for line in try ClusterSetup.run(transport) { print(line) }
        } catch let e as ClusterSetup.SetupError {
            print("setup failed: \(e)")
            throw ExitCode(1)
        } catch {
            print("setup failed: \(error)")
            throw ExitCode(1)
        }
    }
}
