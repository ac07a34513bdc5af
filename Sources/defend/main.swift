import ArgumentParser

@main
struct Defend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "defend",
        abstract: "Container workload protection agent (eBPF sensor, D4C-compatible policies).",
        subcommands: [])
}
