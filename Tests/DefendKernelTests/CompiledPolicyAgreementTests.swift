import DefendEvents
@testable import DefendKernel
import DefendPolicy
import Glibc
import Testing

/// The kernel must decide exactly what the userspace compiled evaluator decides on the same
/// tables: a YAML policy is compiled, applied to the sensor, real programs run in a cgroup
/// marked as a container, and each exec record's decision is compared with
/// `CompiledPolicy.evaluate` on the record's own path, name and tty.
@Suite(.serialized, .enabled(if: Host.isRoot, "needs root to load BPF programs"))
struct CompiledPolicyAgreementTests {
    static let yaml = """
        process:
          selectors:
            - name: shells
              processName: [sh, dash, bash]
            - name: usrBin
              processExecutable: [/usr/bin/*]
            - name: anywhereUnderUsr
              processExecutable: [/usr/**]
            - name: exactTrue
              operation: [exec]
              processExecutable: [/usr/bin/true, /bin/true]
            - name: interactiveOnly
              sessionLeaderInteractive: true
            - name: envByName
              operation: [exec]
              processName: [env]
          responses:
            - match: [usrBin]
              exclude: [exactTrue]
              actions: [log]
            - match: [exactTrue, envByName]
              actions: [alert]
            - match: [shells, interactiveOnly]
              actions: [log]
            - match: [anywhereUnderUsr]
              exclude: [shells]
              actions: [log]
        """

    @Test func kernelDecisionsEqualCompiledEvaluator() throws {
        let policy = try PolicyLoader.parse(yaml: Self.yaml).policy
        let compiled = CompiledPolicy(policy)
        var tables = compiled.tables
        tables.processTelemetry = true  // every exec comes back, matched or not
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: true))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("agree"))
        defer { Host.removeCgroup(cg.path) }
        let masks = compiled.containerMasks(for: ContainerContext(id: "test"))
        try sensor.apply(tables, containerMasks: [cg.id: ContainerMasks(file: masks.file, process: masks.process)])

        let programs = ["/bin/true", "/usr/bin/env true", "/bin/sh -c :", "/bin/false", "/usr/bin/id -u",
                        "/usr/sbin/nologin", "/bin/ls /"]
        let script = "echo $$ > \(cg.path)/cgroup.procs; " + programs.map { "\($0) >/dev/null 2>&1" }.joined(separator: "; ")
        _ = Host.runShell(script + "; exit 0")
        let events = Host.collect(sensor) { evs in
            evs.filter { $0.exec?.task.cgroupID == cg.id }.count >= programs.count + 1  // + env's exec of true
        }
        let execs = events.filter { $0.exec?.task.cgroupID == cg.id }
        #expect(execs.count >= programs.count)
        var fired = 0
        for event in execs {
            let r = try #require(event.exec)
            let expected = compiled.evaluate(operation: .exec, path: r.filename, processName: r.task.comm,
                                             interactive: r.task.hasInteractiveTTY, volume: .none,
                                             containerMask: masks.process)
            #expect(event.decision.actions == expected.actions, "\(r.filename) (\(r.task.comm))")
            #expect(event.decision.selectors == expected.selectors, "\(r.filename) (\(r.task.comm))")
            if !expected.actions.isEmpty { fired += 1 }
        }
        #expect(fired >= 3)  // the policy is not vacuous for these programs
        // fork decisions: every fork in the cgroup is the shell's, whose executable is /bin/sh resolved
        let shell = try #require(realpath("/bin/sh", nil))
        defer { free(shell) }
        let shellPath = String(cString: shell)
        var forks = 0
        for event in events {
            guard let f = event.fork, f.child.cgroupID == cg.id else { continue }
            let expected = compiled.evaluate(operation: .fork, path: shellPath, processName: f.child.comm,
                                             interactive: false, volume: .none, containerMask: masks.process)
            #expect(event.decision.actions == expected.actions)
            #expect(event.decision.selectors == expected.selectors)
            forks += 1
        }
        #expect(forks >= programs.count)
    }

    @Test func interactiveSessionsFromARealPty() throws {
        guard access("/usr/bin/script", X_OK) == 0 else { return }  // util-linux `script` missing
        let policy = try PolicyLoader.parse(yaml: """
            process:
              selectors:
                - name: interactive
                  operation: [exec]
                  sessionLeaderInteractive: true
                - name: batch
                  operation: [exec]
                  sessionLeaderInteractive: false
              responses:
                - match: [interactive]
                  actions: [alert]
                - match: [batch]
                  actions: [log]
            """).policy
        let compiled = CompiledPolicy(policy)
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        let cg = try #require(Host.makeCgroup("tty"))
        defer { Host.removeCgroup(cg.path) }
        let masks = compiled.containerMasks(for: ContainerContext(id: "tty"))
        try sensor.apply(compiled.tables, containerMasks: [cg.id: ContainerMasks(file: masks.file, process: masks.process)])
        // `script` gives its child a new session whose controlling terminal is a pts
        _ = Host.runShell("echo $$ > \(cg.path)/cgroup.procs; /bin/true batch; /usr/bin/script -qec '/bin/true pty' /dev/null")
        let events = Host.collect(sensor) { evs in
            evs.contains { $0.exec?.args == ["/bin/true", "pty"] } && evs.contains { $0.exec?.args == ["/bin/true", "batch"] }
        }
        let pty = try #require(events.first { $0.exec?.args == ["/bin/true", "pty"] })
        let batch = try #require(events.first { $0.exec?.args == ["/bin/true", "batch"] })
        #expect(pty.exec.map { (136...143).contains($0.task.ttyMajor) } == true)
        #expect(pty.decision.actions == [.alert])
        #expect(pty.decision.selectors == 0b01)
        #expect(batch.exec?.task.ttyMajor == 0)
        #expect(batch.decision.actions == [.log])
        #expect(batch.decision.selectors == 0b10)
    }
}
