import ArgumentParser
import DefendEvents
import DefendKernel
import DefendPolicy
import Glibc

/// `defend kernel …`: developer tools for the kernel sensor (probe, raw event watch, exec loop
/// for overhead measurements). Not the agent: `defend run` is.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Kernel sensor tools: capabilities probe, raw event watch, exec loop (benchmarks).",
        subcommands: [KernelProbeCommand.self, KernelWatchCommand.self, KernelExecLoopCommand.self])
}

struct KernelProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Load the sensor, print what this kernel allows, unload.")

    @Flag(help: "Do not try the BPF-LSM half.") var noLSM = false

    func run() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(enableLSM: !noLSM))
        defer { sensor.close() }
        let c = sensor.capabilities
        print(c.summary)
        print("attached: \(c.attached.sorted().joined(separator: " "))")
        for (program, why) in c.failed.sorted(by: { $0.key < $1.key }) { print("failed: \(program): \(why)") }
    }
}

struct KernelWatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print raw kernel records (one line each) until the time or count is reached.",
        discussion: "With --policy the YAML policy is compiled and applied; --scope all evaluates host "
            + "processes too (otherwise only cgroups given with --container are containers).")

    @Option(help: "Policy file (YAML) to apply.") var policy: String?
    @Option(help: "Policy scope: containers or all.") var scope: String = "containers"
    @Option(help: "cgroup v2 directory to treat as a container (all container conditions unknown).")
    var container: [String] = []
    @Option(help: "Stop after this many seconds (0 = until killed).") var seconds: Double = 0
    @Option(help: "Stop after this many records (0 = no limit).") var count: Int = 0
    @Option(help: "Ring buffer size in MiB.") var ringMb: Int = 8
    @Flag(help: "Do not send process telemetry (only policy matches leave the kernel).") var noTelemetry = false
    @Flag(help: "Do not try the BPF-LSM half.") var noLSM = false
    @Flag(help: "Only count records; print totals at the end.") var quiet = false
    @Option(help: "Stop (and print totals) once this file exists.") var stopFile: String?

    func run() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(
            ringBufferBytes: ringMb << 20, processTelemetry: !noTelemetry, enableLSM: !noLSM))
        defer { sensor.close() }
        standardError("sensor: \(sensor.capabilities.summary)")
        if let policy {
            let loaded = try PolicyLoader.load(path: policy)
            let compiled = CompiledPolicy(loaded.policy, scope: scope == "all" ? .all : .containers)
            var tables = compiled.tables
            tables.processTelemetry = !noTelemetry
            let masks = compiled.containerMasks(for: ContainerContext(id: "watch"))
            var containers: [UInt64: ContainerMasks] = [:]
            for dir in container {
                var st = stat()
                guard stat(dir, &st) == 0 else { throw ValidationError("cannot stat cgroup \(dir)") }
                containers[UInt64(st.st_ino)] = ContainerMasks(file: masks.file, process: masks.process)
            }
            try sensor.apply(tables, containerMasks: containers)
            let blocks = loaded.policy.process?.responses.contains { $0.actions.contains(.block) } == true
                || loaded.policy.file?.responses.contains { $0.actions.contains(.block) } == true
            if let warning = sensor.capabilities.blockingWarning(policyBlocks: blocks) { standardError("sensor: \(warning)") }
        }
        print("READY")
        fflush(nil)
        let start = now()
        var total = 0
        while (seconds <= 0 || now() - start < seconds) && (count <= 0 || total < count) {
            if let stopFile, access(stopFile, F_OK) == 0 { break }
            try sensor.poll(timeoutMs: 100) { event in
                total += 1
                if !quiet { print(Self.line(event)) }
            }
            fflush(nil)
        }
        let losses = sensor.lossCounters()
        print("records: \(total) lost: \(losses.totalReserveFailures) decode-errors: \(losses.decodeErrors)")
    }

    static func line(_ e: KernelEvent) -> String {
        let d = e.decision
        var s = "\(e.hook.ecsName)"
        if let op = d.operation { s += " op=\(op)" }
        if !d.actions.isEmpty {
            var a: [String] = []
            if d.actions.contains(.log) { a.append("log") }
            if d.actions.contains(.alert) { a.append("alert") }
            if d.actions.contains(.block) { a.append("block") }
            s += " actions=\(a.joined(separator: ",")) selectors=0x\(String(d.selectors, radix: 16)) gen=\(d.generation)"
        }
        if d.denied { s += " DENIED" }
        func task(_ t: TaskInfo) -> String { "pid=\(t.pid) ppid=\(t.ppid) comm=\(t.comm) cgroup=\(t.cgroupID)" }
        switch e.record {
        case let .fork(r): s += " \(task(r.child))"
        case let .exec(r): s += " \(task(r.task)) file=\(r.filename) cwd=\(r.cwd) argv=\(r.args)"
        case let .exit(r): s += " \(task(r.task)) code=\(r.exitCode) signal=\(r.signal)"
        case let .setsid(r): s += " \(task(r.task)) sid=\(r.task.sid)"
        case let .file(r):
            s += " \(task(r.task)) path=\(r.path)"
            if let old = r.oldPath { s += " old=\(old)" }
            s += " mode=0\(String(r.mode, radix: 8))"
            if r.inVolumeMount { s += " volume" }
            if r.isFileMount { s += " filemount" }
        case let .cgroup(r): s += " id=\(r.cgroupID) level=\(r.level) path=\(r.path)"
        }
        return s
    }
}

struct KernelExecLoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-loop",
        abstract: "posix_spawn + wait a program N times; print microseconds per exec (for benchmarks).")

    @Option(help: "Iterations.") var count: Int = 2000
    @Argument(help: "Program and arguments.") var program: [String] = ["/bin/true"]

    func run() throws {
        var cargs = program.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        guard let path = cargs[0] else { throw ValidationError("no program") }
        let start = now()
        for _ in 0..<count {
            var pid: pid_t = 0
            guard posix_spawn(&pid, path, nil, nil, &cargs, environ) == 0 else {
                throw ValidationError("cannot spawn \(program[0])")
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        let us = (now() - start) * 1e6 / Double(max(count, 1))
        let tenths = Int((us * 10).rounded())
        print("exec-loop: \(count) x \(program.joined(separator: " ")): \(tenths / 10).\(tenths % 10) us/exec")
    }
}

private func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
