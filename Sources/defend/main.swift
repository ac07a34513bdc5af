import ArgumentParser

// main.swift is top-level code once the target has more than one file, so no `@main` here.
struct Defend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "defend",
        abstract: "Container workload protection agent (eBPF sensor, D4C-compatible policies).",
        subcommands: [RunCommand.self, ConfigCommand.self, SetupCommand.self, StatusCommand.self, PolicyCommand.self, KernelCommand.self])
}

/// Runs the async entry point (a plain `Defend.main()` here would pick the synchronous overload).
func runAsyncCommand<Command: AsyncParsableCommand>(_ command: Command.Type) async {
    await command.main()
}
await runAsyncCommand(Defend.self)
