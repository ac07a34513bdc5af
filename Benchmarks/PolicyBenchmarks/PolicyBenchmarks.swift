import Benchmark
import DefendEvents
import DefendPolicy

/// Compiled policy evaluation (the agent's per-operation cost) at 1, 16 and 63 selectors (63
/// selectors + 1 response = the 64-rule section limit), and
/// parse + compile of a policy with both sections at the 64-rule limit. Allocation counts come from the malloc interposer:
/// evaluation must show 0 mallocs.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000)

    for count in [1, 16, 63] {
        let fixture = PolicyFixture(fileSelectors: count)
        Benchmark("evaluate file op, \(count) selectors") { benchmark in
            fixture.runFile(benchmark.scaledIterations)
        }
    }
    let process = PolicyFixture(fileSelectors: 32)
    Benchmark("evaluate exec, 32 process selectors") { benchmark in
        process.runProcess(benchmark.scaledIterations)
    }
    // Both sections at the 64-rule limit: 63 selectors + 1 response, 62 selectors + 2 responses.
    let yaml = PolicyFixture.yaml(fileSelectors: 63, processSelectors: 62)
    Benchmark("parse + compile, 63 file + 62 process selectors", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try CompiledPolicy(PolicyLoader.parse(yaml: yaml).policy))
        }
    }
}

/// A policy with a realistic mix of path patterns, names and container conditions, and a set of
/// operations that hit and miss them.
struct PolicyFixture: Sendable {
    let compiled: CompiledPolicy
    let fileMask: UInt64
    let processMask: UInt64
    let paths: [String]
    let executables: [String]
    let names: [String]

    init(fileSelectors: Int) {
        let yaml = Self.yaml(fileSelectors: fileSelectors, processSelectors: min(fileSelectors, 32))
        let policy: Policy
        do {
            policy = try PolicyLoader.parse(yaml: yaml).policy
        } catch {
            fatalError("benchmark fixture is not a valid policy (bug in this file): \(error)")
        }
        compiled = CompiledPolicy(policy)
        let container = ContainerContext(id: "c", imageName: "nginx", imageFullName: "docker.io/library/nginx",
                                         imageTag: "latest", kubernetes: KubernetesContext(namespace: "default"))
        (fileMask, processMask) = compiled.containerMasks(for: container)
        paths = ["/usr/bin/curl", "/etc/nginx/nginx.conf", "/var/lib/app/data/cache/segment-00042.bin",
                 "/tmp/x", "/usr/local/lib/python3.11/site-packages/pkg/module.py", "/d7/sub/file",
                 "/home/user/.bashrc", "/opt/app/bin/server"]
        executables = ["/bin/sh", "/usr/bin/python3.11", "/usr/local/bin/app", "/opt/app/bin/server"]
        names = ["sh", "python3.11", "app", "server"]
    }

    static func yaml(fileSelectors: Int, processSelectors: Int) -> String {
        var y = "file:\n  selectors:\n"
        let patterns = ["/usr/bin/**", "/etc/*", "/var/lib/app/**", "/opt/app/bin/server", "/home/user/*"]
        for i in 0..<fileSelectors {
            y += "    - name: f\(i)\n"
            switch i % 4 {
            case 0: y += "      operation: [createExecutable, modifyExecutable]\n      targetFilePath: [/d\(i)/**, \(patterns[i % patterns.count])]\n"
            case 1: y += "      targetFilePath: [/d\(i)/*, /e\(i)/f]\n      containerImageName: [nginx]\n"
            case 2: y += "      operation: [createFile, modifyFile]\n      targetFilePath: [/etc/d\(i)/**]\n      ignoreVolumeMounts: true\n"
            default: y += "      kubernetesNamespace: [default]\n      targetFilePath: [/x\(i)]\n"
            }
        }
        y += "  responses:\n    - match: [f0]\n      actions: [alert]\n"
        // 63 selectors + 1 response is the section limit (64 rules).
        if fileSelectors > 1 && fileSelectors < 63 { y += "    - match: [f1]\n      exclude: [f0]\n      actions: [log]\n" }
        guard processSelectors > 0 else { return y }
        y += "process:\n  selectors:\n"
        for i in 0..<processSelectors {
            y += "    - name: p\(i)\n"
            switch i % 3 {
            case 0: y += "      operation: [exec]\n      processExecutable: [/usr/bin/**, /p\(i)/*]\n"
            case 1: y += "      processName: [sh, n\(i)]\n      sessionLeaderInteractive: true\n"
            default: y += "      processExecutable: [/opt/app/bin/server, /q\(i)/**]\n      containerImageName: [nginx]\n"
            }
        }
        y += "  responses:\n    - match: [\((0..<min(2, processSelectors)).map { "p\($0)" }.joined(separator: ", "))]\n      actions: [log]\n"
        if processSelectors > 2 { y += "    - match: [p2]\n      actions: [alert]\n" }
        return y
    }

    func runFile(_ iterations: Range<Int>) {
        let ops: [PolicyOperation] = [.createExecutable, .modifyFile, .createFile, .deleteFile]
        for i in iterations {
            blackHole(compiled.evaluate(operation: ops[i & 3], path: paths[i & 7], processName: nil, interactive: nil,
                                        volume: .none, containerMask: fileMask))
        }
    }

    func runProcess(_ iterations: Range<Int>) {
        for i in iterations {
            blackHole(compiled.evaluate(operation: .exec, path: executables[i & 3], processName: names[i & 3],
                                        interactive: i & 1 == 0, volume: .none, containerMask: processMask))
        }
    }
}
