import DefendKernel
import Foundation
import Glibc
import Testing

/// The agent runs without uid 0: an unprivileged user with CAP_BPF and CAP_PERFMON (and the wanted
/// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) loads the sensor and reports execs; the same user without
/// them is refused at start with the missing capabilities named.
@Suite(.serialized) struct CapabilitiesHostTests {
    static let user: UInt32 = 65534  // nobody

    @Test func effectiveSetParsingAndRequirements() {
        #expect(ProcessCapabilities.parseEffective("Name:\tx\nCapInh:\t0\nCapEff:\t000000c000000000\nCapBnd:\t1\n")
                == 0xc0_0000_0000)
        #expect(ProcessCapabilities.parseEffective("Name:\tx\n") == nil)
        #expect(ProcessCapabilities(effective: 0xc0_0000_0000).missingRequired.isEmpty)          // BPF + PERFMON
        #expect(ProcessCapabilities(effective: 1 << 21).missingRequired.isEmpty)                  // SYS_ADMIN alone
        #expect(ProcessCapabilities(effective: 1 << 39).missingRequired == ["CAP_PERFMON"])
        #expect(ProcessCapabilities(effective: 0).missingRequired == ["CAP_BPF", "CAP_PERFMON"])
        let wanted = ProcessCapabilities(effective: 0xc0_0000_0000).missingWanted(memlockAccounting: true)
        #expect(wanted.map { String($0.prefix(while: { $0 != " " })) } == ["CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_SYS_RESOURCE"])
        #expect(ProcessCapabilities(effective: ~0).missingWanted(memlockAccounting: true).isEmpty)
    }

    /// A private directory the unprivileged user owns, holding a copy of the agent it can execute.
    static func sandbox() throws -> String {
        let dir = "/tmp/defend-caps-\(getpid())-\(UUID().uuidString.prefix(6))"
        try #require(mkdir(dir, 0o755) == 0)
        try #require(chown(dir, user, user) == 0)
        let bin = dir + "/defend"
        try FileManager.default.copyItem(atPath: RunCommandHostTests.defendBinary(), toPath: bin)
        try #require(chmod(bin, 0o755) == 0)
        for sub in ["state", "run"] {
            try #require(mkdir(dir + "/" + sub, 0o700) == 0 && chown(dir + "/" + sub, user, user) == 0)
        }
        return dir
    }

    static func asNobody(_ caps: [String], _ arguments: [String], stderr: String, stdout: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        var args = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups"]
        if !caps.isEmpty {
            let list = caps.map { "+" + $0 }.joined(separator: ",")
            args += ["--inh-caps=\(list)", "--ambient-caps=\(list)", "--bounding-set=-all,\(list)"]
        }
        p.arguments = args + arguments
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        try p.run()
        return p
    }

    @Test(.enabled(if: RunCommandHostTests.isRoot, "needs root to hand capabilities to another user"))
    func runsAsAnUnprivilegedUserWithCapabilitiesOnly() throws {
        try #require(access("/usr/bin/setpriv", X_OK) == 0, "util-linux's setpriv is required (setup.sh installs it)")
        let dir = try Self.sandbox()
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let run = [dir + "/defend", "run", "--scope", "all", "--state-dir", dir + "/state",
                   "--status-socket", dir + "/run/defend.sock", "--ready-file", dir + "/run/ready",
                   "--no-cloud-metadata", "--stats-interval", "0"]
        let agent = try Self.asNobody(["bpf", "perfmon", "sys_ptrace", "dac_read_search"], run,
                                      stderr: dir + "/agent.log", stdout: dir + "/events.ndjson")
        defer { if agent.isRunning { agent.terminate() } }
        let deadline = Date().addingTimeInterval(30)
        while access(dir + "/run/ready", F_OK) != 0, agent.isRunning, Date() < deadline { usleep(50_000) }
        let log = { (try? String(contentsOfFile: dir + "/agent.log", encoding: .utf8)) ?? "" }
        try #require(access(dir + "/run/ready", F_OK) == 0, "agent not ready as uid \(Self.user): \(log())")
        let marker = "caps-marker-\(UUID().uuidString.prefix(8))"
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/bin/echo")
        probe.arguments = [marker]
        probe.standardOutput = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        usleep(500_000)
        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "\(log())")
        let docs = try RunCommandHostTests.documents(dir + "/events.ndjson")
        let exec = docs.first { d in
            let p = d["process"] as? [String: Any]
            return (d["event"] as? [String: Any])?["action"] as? String == "exec" && p?["args"] as? [String] == ["/bin/echo", marker]
        }
        #expect(exec != nil, "no exec document for the probe; agent log: \(log())")
        #expect(!log().contains("without CAP_"), "every wanted capability was given: \(log())")

        // The same user without capabilities: refused at start, naming what is missing.
        let bare = try Self.asNobody([], run, stderr: dir + "/bare.log", stdout: dir + "/bare.ndjson")
        bare.waitUntilExit()
        let bareLog = (try? String(contentsOfFile: dir + "/bare.log", encoding: .utf8)) ?? ""
        #expect(bare.terminationStatus != 0)
        #expect(bareLog.contains("lacks CAP_BPF and CAP_PERFMON"), "\(bareLog)")
    }
}
