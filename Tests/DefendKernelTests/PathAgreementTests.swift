import DefendEvents
@testable import DefendKernel
import DefendPolicy
import Glibc
import Testing

/// The kernel's path walk and matcher against both userspace evaluators, on random policies and
/// random paths, deep and unresolvable ones included: copies of /bin/true are executed at random
/// depths below a scratch directory (relative execs after step-wise `cd`, so paths longer than
/// PATH_MAX can be reached), and each exec record is checked twice:
///  - the kernel resolved the true path (or flagged it unresolved exactly when it is longer than
///    PATH_MAX, reporting a tail that does not start with '/');
///  - the kernel's decision (actions, selectors) equals CompiledPolicy and ReferenceEvaluator on the
///    true path, and CompiledPolicy on the record's own path and flag (what the agent re-decides).
@Suite(.serialized, .enabled(if: Host.isRoot, "needs root to load BPF programs"))
struct PathAgreementTests {
    struct Target {
        var relative: [String]   // components below the base
        var name: String
        var path: String         // true absolute path
    }

    static func pattern(_ rng: inout SeededRandom, _ dirs: [String]) -> String {
        let dir = dirs[Int.random(in: 0..<dirs.count, using: &rng)]
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: return dir + "/*"
        case 1: return dir + "/**"
        default: return dir + "/x"
        }
    }

    /// Both builds of the objects (bpf_loop and bounded loops) must decide the same.
    @Test(arguments: [BPFObjectVariant.loop, .bounded])
    func kernelPathDecisionsEqualEvaluatorsOnRandomPolicies(variant: BPFObjectVariant) throws {
        let seed = Glibc.getenv("DEFEND_TEST_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        var template = Array("/tmp/defend-paths-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ b in b.baseAddress.flatMap { mkdtemp($0) } }) != nil else {
            Issue.record("mkdtemp failed"); return
        }
        let base = String(cString: template)
        defer { _ = Host.runShell("rm -rf '\(base)' '\(base).setup.sh' '\(base).run.sh'") }
        let long1 = String(repeating: "L", count: 250), long2 = String(repeating: "M", count: 250)
        let shapes: [[String]] = [
            [], ["a"], ["a", "b"], ["a", "b", "c"], ["usr", "local", "bin"],
            Array(repeating: "d", count: 62), Array(repeating: "d", count: 64), Array(repeating: "d", count: 200),
            ["a"] + Array(repeating: "d", count: 1000),
            [long1, long2], ["a", long1, long2, "b"],
            Array(repeating: "dd", count: 1400),              // > PATH_MAX: reported truncated
            ["a", "b"] + Array(repeating: long1, count: 17),  // > PATH_MAX through long names
            Array(repeating: "d", count: 5000),               // 10000 bytes
        ]
        var targets: [Target] = []
        for shape in shapes {
            for name in ["x", "y"] {
                targets.append(Target(relative: shape, name: name,
                                      path: base + shape.map { "/" + $0 }.joined() + "/" + name))
            }
        }
        // policy directories: prefixes of the shapes that a pattern (<= 511 bytes) can name
        var dirs = Set<String>([base])
        for shape in shapes {
            var p = base
            for c in shape {
                p += "/" + c
                if p.utf8.count + 3 <= 511 { dirs.insert(p) }
            }
        }
        let dirList = dirs.sorted()

        // create every target (step-wise cd: mkdir -p of a path > PATH_MAX fails)
        var setup = "set -e; cp /bin/true '\(base)/true.bin'\n"
        for t in targets {
            setup += "cd '\(base)'\n"
            for chunk in Self.chunks(t.relative) { setup += "mkdir -p '\(chunk)'; cd '\(chunk)'\n" }
            setup += "cp '\(base)/true.bin' \(t.name); chmod 755 \(t.name)\n"
        }
        let made = Self.bash(setup, base + ".setup.sh")
        try #require(made.status == 0, "could not build the path tree under \(base)")

        var rounds = 0, fired = 0, unresolvedSeen = 0, truncatedSeen = 0
        for _ in 0..<4 {
            // random process policy over those directories
            var yaml = "process:\n  selectors:\n"
            let n = Int.random(in: 2...6, using: &rng)
            for i in 0..<n {
                let pats = (0..<Int.random(in: 1...3, using: &rng)).map { _ in Self.pattern(&rng, dirList) }
                yaml += "    - name: s\(i)\n      operation: [exec]\n"
                yaml += "      processExecutable: [\(pats.map { "\"\($0)\"" }.joined(separator: ", "))]\n"
                if Bool.random(using: &rng) && i > 0 { yaml += "      processName: [\(Bool.random(using: &rng) ? "x" : "y")]\n" }
            }
            yaml += "    - name: any\n      operation: [exec]\n      processName: [x]\n"
            yaml += "  responses:\n"
            var named = Set<String>()
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let m = (0..<Int.random(in: 1...2, using: &rng)).map { _ in "s\(Int.random(in: 0..<n, using: &rng))" }
                let ex = Bool.random(using: &rng) ? ["s\(Int.random(in: 0..<n, using: &rng))"] : []
                named.formUnion(m); named.formUnion(ex)
                let actions = [["log"], ["alert"], ["alert", "block"], ["log", "alert", "block"]][Int.random(in: 0..<4, using: &rng)]
                yaml += "    - match: [\(m.joined(separator: ", "))]\n"
                if !ex.isEmpty { yaml += "      exclude: [\(ex.joined(separator: ", "))]\n" }
                yaml += "      actions: [\(actions.joined(separator: ", "))]\n"
            }
            let unnamed = (0..<n).map { "s\($0)" }.filter { !named.contains($0) }
            if !unnamed.isEmpty { yaml += "    - match: [\(unnamed.joined(separator: ", "))]\n      actions: [alert]\n" }
            yaml += "    - match: [any]\n      actions: [log]\n"
            let policy = try PolicyLoader.parse(yaml: yaml).policy
            let compiled = CompiledPolicy(policy)
            let reference = ReferenceEvaluator(policy)
            var tables = compiled.tables
            tables.processTelemetry = true
            let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true, objectVariant: variant))
            #expect(sensor.capabilities.objectVariant == variant.rawValue)
            defer { sensor.close() }
            let cg = try #require(Host.makeCgroup("pathagree"))
            defer { Host.removeCgroup(cg.path) }
            let masks = compiled.containerMasks(for: ContainerContext(id: "paths"))
            try sensor.apply(tables, containerMasks: [cg.id: ContainerMasks(file: masks.file, process: masks.process)])

            var script = "echo $$ > \(cg.path)/cgroup.procs\n"
            for t in targets {
                script += "(cd '\(base)'"
                for chunk in Self.chunks(t.relative) { script += " && cd '\(chunk)'" }
                script += " && ./\(t.name))\n"
            }
            _ = Self.bash(script + "exit 0", base + ".run.sh")
            let events = Host.collect(sensor, seconds: 10) { evs in
                evs.filter { $0.exec?.task.cgroupID == cg.id }.count >= targets.count
            }
            var byPath: [String: KernelEvent] = [:]
            var truncated: [KernelEvent] = []
            var unresolved: [KernelEvent] = []
            for e in events {
                guard let r = e.exec, r.task.cgroupID == cg.id else { continue }
                if r.filenameUnresolved {
                    #expect(!r.filename.hasPrefix("/"), "seed \(seed): an unresolved path passed off as absolute")
                    unresolved.append(e)
                } else if r.filenameTruncated { truncated.append(e) } else { byPath[r.filename] = e }
            }
            for t in targets {
                let tooLong = t.path.utf8.count >= PathLimits.pathMax
                // more steps than the walk takes (the shapes stay far from the bound, mounts included)
                let tooDeep = t.path.split(separator: "/").count > PathLimits.walkSteps
                let event: KernelEvent?
                if tooDeep {
                    // never resolved as absolute: the record holds a tail of the path, flagged unresolved
                    event = unresolved.first { e in e.exec?.task.comm == t.name }
                    #expect(event != nil, "seed \(seed): no unresolved exec record for the \(t.path.utf8.count)-byte path")
                    if event != nil { unresolvedSeen += 1 }
                } else if tooLong {
                    // the record holds the first PATH_MAX - 1 bytes of the true path
                    event = truncated.first { e in
                        guard let f = e.exec?.filename, e.exec?.task.comm == t.name else { return false }
                        return f.utf8.count == PathLimits.pathMax - 1 && t.path.hasPrefix(f)
                    }
                    #expect(event != nil, "seed \(seed): no truncated exec record for the \(t.path.utf8.count)-byte path")
                    if event != nil { truncatedSeen += 1 }
                } else {
                    event = byPath[t.path]
                    #expect(event != nil, "seed \(seed): no exec record with the whole path \(t.path.prefix(120))… (\(t.path.utf8.count) bytes)")
                }
                guard let event, let r = event.exec else { continue }
                rounds += 1
                let truth = PolicyEvent(operation: .exec, path: t.path, processName: r.task.comm, interactive: false,
                                        container: ContainerContext(id: "paths"))
                let fromRecord = compiled.evaluate(operation: .exec, path: r.filename, processName: r.task.comm,
                                                   interactive: false, volume: .none, containerMask: masks.process,
                                                   pathState: r.filenameState)
                let what = "seed \(seed): \(t.path.utf8.count)-byte path …\(t.path.suffix(80)), record \(r.filename.utf8.count) bytes \(r.filename.prefix(60))…\(r.filename.suffix(40)) with\n\(yaml)"
                if tooDeep {
                    // fail closed: the kernel decides as both evaluators do on the unresolved record
                    let refRecord = reference.evaluate(PolicyEvent(operation: .exec, path: r.filename, processName: r.task.comm,
                                                                   interactive: false, container: ContainerContext(id: "paths"),
                                                                   pathState: .unresolved))
                    #expect(event.decision.actions == fromRecord.actions, "kernel vs compiled (unresolved): \(what)")
                    #expect(event.decision.selectors == fromRecord.selectors, "kernel vs compiled selectors (unresolved): \(what)")
                    #expect(refRecord.actions == fromRecord.actions, "reference vs compiled (unresolved): \(what)")
                    let exact = compiled.evaluate(truth)
                    if exact.actions.contains(.block) {
                        #expect(fromRecord.actions.contains(.block), "fail closed lost a block: \(what)")
                    }
                    if !fromRecord.actions.isEmpty { fired += 1 }
                    continue
                }
                let c = compiled.evaluate(truth)
                let ref = reference.evaluate(truth)
                #expect(event.decision.actions == c.actions, "kernel vs compiled: \(what)")
                #expect(event.decision.selectors == c.selectors, "kernel vs compiled selectors: \(what)")
                #expect(ref.actions == c.actions, "reference vs compiled: \(what)")
                #expect(fromRecord.actions == c.actions && fromRecord.selectors == c.selectors, "record vs truth: \(what)")
                if !c.actions.isEmpty { fired += 1 }
            }
        }
        #expect(rounds == 4 * targets.count)
        #expect(truncatedSeen == 4 * 4)  // two shapes longer than PATH_MAX, two names, four rounds
        #expect(unresolvedSeen == 4 * 2)  // one shape deeper than the walk, two names, four rounds
        #expect(fired > 4 * 2, "seed \(seed): the random policies hardly ever fired (\(fired))")
    }

    /// bash (its `cd` falls back to a relative chdir beyond PATH_MAX; dash's does not), from a file.
    static func bash(_ script: String, _ file: String) -> (pid: Int32, status: Int32) {
        guard let f = fopen(file, "w") else { return (-1, -1) }
        fputs(script, f)
        fclose(f)
        return Host.runShell("exec bash '\(file)'")
    }

    /// Components joined into relative chunks of at most ~1000 bytes (each `cd` argument < PATH_MAX).
    static func chunks(_ components: [String]) -> [String] {
        var out: [String] = [], cur = ""
        for c in components {
            if !cur.isEmpty && cur.utf8.count + c.utf8.count + 1 > 1000 { out.append(cur); cur = "" }
            cur += cur.isEmpty ? c : "/" + c
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }
}

/// SplitMix64 (the policy tests' generator): reproducible from the printed seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
