import Foundation
import Testing

/// A SIGHUP during start-up (a ConfigMap update while the pod restarts) killed the agent with exit 129
/// and no log line, until the handler was installed late in start-up. Here the agent is held in the
/// middle of its start-up, deterministically: its `--output` is a FIFO, whose open blocks until the
/// test opens the reading end. The SIGHUP arrives then, before the sensor is attached.
@Suite(.serialized) struct StartupSignalHostTests {
    /// The syscalls the process's threads are blocked in (first field of /proc/PID/task/TID/syscall).
    static func blockedSyscalls(_ pid: Int32) -> Set<Int> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return Set(tasks.compactMap { tid in
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/syscall", encoding: .utf8) else { return nil }
            return text.split(separator: " ").first.flatMap { Int($0) }
        })
    }

    @Test(.enabled(if: getuid() == 0, "needs root to load BPF programs"))
    func sighupDuringStartUpIsNotFatal() throws {
        let dir = NSTemporaryDirectory() + "defend-hup-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fifo = dir + "/out", ready = dir + "/ready", log = dir + "/agent.log", policy = dir + "/policy.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        try "process:\n  selectors:\n    - name: all\n      operation: [exec]\n  responses:\n    - match: [all]\n      actions: [log]\n"
            .write(toFile: policy, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: log, contents: nil)

        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: RunCommandHostTests.defendBinary())
        agent.arguments = ["run", "--policy", policy, "--output", fifo, "--ready-file", ready, "--state-dir", dir + "/state",
                           "--no-cloud-metadata", "--stats-interval", "0"]
        agent.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try agent.run()
        defer { if agent.isRunning { agent.terminate() } }

        // Wait until a thread of the agent sits in openat(2) on the FIFO (257 = openat on x86_64), three looks in a row.
        var stable = 0
        let deadline = Date().addingTimeInterval(30)
        while stable < 3, agent.isRunning, Date() < deadline {
            stable = Self.blockedSyscalls(agent.processIdentifier).contains(257) ? stable + 1 : 0
            usleep(20_000)
        }
        #expect(stable == 3, "the agent never blocked opening its output FIFO")
        #expect(!FileManager.default.fileExists(atPath: ready))
        kill(agent.processIdentifier, SIGHUP)
        usleep(100_000)

        // Let start-up go on: open the reading end and drain it.
        let reader = open(fifo, O_RDONLY)
        #expect(reader >= 0)
        Thread.detachNewThread {
            var buf = [UInt8](repeating: 0, count: 65536)
            while read(reader, &buf, buf.count) > 0 {}
            close(reader)
        }
        let readyBy = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready), agent.isRunning, Date() < readyBy { usleep(50_000) }
        let text = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        #expect(agent.isRunning, "the agent died during start-up (status \(agent.terminationStatus)); log: \(text())")
        #expect(FileManager.default.fileExists(atPath: ready), "log: \(text())")
        // The SIGHUP was kept and acted on once the loop ran.
        let reloadBy = Date().addingTimeInterval(10)
        while !text().contains("policy reloaded (SIGHUP)"), agent.isRunning, Date() < reloadBy { usleep(50_000) }
        #expect(text().contains("policy reloaded (SIGHUP)"), "log: \(text())")
        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationReason == .exit && agent.terminationStatus == 0, "log: \(text())")
    }
}
