import ArgumentParser
import DefendTelemetry
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Ask a running agent for its state: health, policy generation and file, kernel features, counters.",
        discussion: """
            Connects to the agent's root-only status socket (see `defend run --status-socket`). Exit status:
            0 the agent is healthy and ready, 1 it answered but is not (yet) ready or healthy, 2 no answer.
            """)

    @Option(name: .long, help: ArgumentHelp("The agent's status socket.", valueName: "path"))
    var statusSocket: String = defaultStatusSocketPath

    @Flag(name: .long, help: "Print the agent's report as JSON.")
    var json = false

    func run() throws {
        let report: StatusReport
        do {
            report = try StatusClient.fetch(path: statusSocket)
        } catch {
            FileHandle.standardError.write(Data("defend status: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            FileHandle.standardOutput.write(Data(report.encoded() + [UInt8(ascii: "\n")]))
        } else {
            print(StatusText.render(report), terminator: "")
        }
        if !(report.healthy && report.ready) { throw ExitCode(1) }
    }
}
