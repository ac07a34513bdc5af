// Compiles every bpf/*.bpf.c of the package into a BPF object and embeds it in the target as Swift.
// SwiftPM does not compile C that a plugin generates, so the object travels as a hex string literal.
import Foundation
import PackagePlugin

@main
struct BPFCompilerPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let bpfDir = context.package.directoryURL.appending(path: "bpf")
        let abiDir = context.package.directoryURL.appending(path: "Sources/CLibBPF")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: bpfDir.path())) ?? []
        let sources = files.filter { $0.hasSuffix(".bpf.c") }.sorted()
        let headers = files.filter { $0.hasSuffix(".h") }.map { bpfDir.appending(path: $0) }
        let clang = try context.tool(named: "clang").url
        let embed = try context.tool(named: "bpf-embed").url
        let work = context.pluginWorkDirectoryURL
        // Two objects per source: <name> uses bpf_loop (Linux 5.17+); <name>_bounded is built with
        // -DDEFEND_NO_BPF_LOOP (bounded loops, Linux 5.10+). The loader probes the kernel for
        // bpf_loop and loads one of them (Sources/DefendKernel/Sensor.swift).
        return sources.flatMap { file -> [Command] in
            let base = String(file.dropLast(".bpf.c".count))
            let source = bpfDir.appending(path: file)
            return [(base, [String]()), (base + "_bounded", ["--define", "DEFEND_NO_BPF_LOOP"])].map { name, extra in
                let output = work.appending(path: "\(name).bpf.swift")
                return .buildCommand(
                    displayName: "Compiling BPF program \(file) (\(name))",
                    executable: embed,
                    arguments: [
                        "--clang", clang.path(), "--source", source.path(), "--include", bpfDir.path(),
                        "--include", abiDir.path(), "--object", work.appending(path: "obj/\(name).bpf.o").path(),
                        "--output", output.path(), "--name", name,
                    ] + extra,
                    inputFiles: [source] + headers,
                    outputFiles: [output])
            }
        }
    }
}
