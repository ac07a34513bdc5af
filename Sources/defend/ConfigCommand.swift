import ArgumentParser
import DefendAgent
import DefendConfig

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check a configuration file.",
        subcommands: [Validate.self, Keys.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Report every error of a configuration file as FILE:LINE:COL (exit 1 if any).",
            discussion: "${VAR} is substituted from the environment as `defend run` would; secret values are never printed.")

        @Argument(help: "The configuration file.")
        var file: String

        func run() throws {
            var config = AgentConfiguration()
            do {
                try ConfigurationFile.load(path: file, into: &config)
            } catch {
                print(error.description)
                throw ExitCode(1)
            }
            var summary = "\(file): valid; output \(config.output.rawValue)"
            if config.output == .elasticsearch {
                summary += " (\(config.elasticsearch.hosts.joined(separator: ", "))), queue \(config.queueSettings.path)"
            }
            summary += ", namespace \(config.dataStreamNamespace), scope \(config.scope.rawValue)"
            print(summary)
        }
    }

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "keys", abstract: "List every configuration key.")

        func run() {
            for key in ConfigurationFile.keys.sorted(by: { $0.path < $1.path }) {
                print(key.path + (key.isSecret ? " (secret)" : "") + (key.help.isEmpty ? "" : "  # " + key.help))
            }
        }
    }
}
