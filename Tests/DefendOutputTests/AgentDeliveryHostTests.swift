import Foundation
import Testing

/// The real `defend run --config` (scope all, this host's kernel; root needed) ships to the stand-in
/// server through an outage during which the agent is SIGKILLed and restarted on the same queue:
/// every exec of a marked process is stored exactly once.
@Suite(.serialized) struct AgentDeliveryHostTests {
    static var isRoot: Bool { getuid() == 0 }

    static func defendBinary() -> String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir.appendingPathComponent("defend").path,
                          dir.deletingLastPathComponent().appendingPathComponent("defend").path,
                          URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                              .deletingLastPathComponent().appendingPathComponent(".build/debug/defend").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    func startAgent(config: String, ready: String, log: String) throws -> Process {
        unlink(ready)
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: Self.defendBinary())
        agent.arguments = ["run", "--config", config, "--scope", "all", "--ready-file", ready, "--no-cloud-metadata",
                           "--stats-interval", "0"]
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        agent.standardError = handle
        try agent.run()
        #expect(waitUntil(30) { FileManager.default.fileExists(atPath: ready) || !agent.isRunning }, "agent not ready; log \(log)")
        #expect(agent.isRunning, "agent exited; log \(log)")
        return agent
    }

    func spawnMarked(_ prefix: String, count: Int) throws -> [String] {
        var markers: [String] = []
        for i in 0..<count {
            let marker = "\(prefix)-\(i)"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/echo")
            p.arguments = [marker]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            markers.append(marker)
        }
        return markers
    }

    func storedMarkers(_ server: StandInElasticsearch, prefix: String) -> [String] {
        server.documents.compactMap { d -> String? in
            guard (d.source["event"] as? [String: Any])?["action"] as? String == "exec",
                  let args = (d.source["process"] as? [String: Any])?["args"] as? [String],
                  args.count == 2, args[0] == "/bin/echo", args[1].hasPrefix(prefix) else { return nil }
            return args[1]
        }
    }

    @Test(.enabled(if: AgentDeliveryHostTests.isRoot, "needs root to load BPF programs"))
    func sigkillMidOutageLosesNothingAndDuplicatesNothing() throws {
        let server = StandInElasticsearch()
        server.auth = .apiKey("agent:k3y")
        try server.start()
        let port = server.port
        let dir = tempDir("agent-kill")
        let config = dir + "/defend.yaml"
        try """
            state_dir: state
            output:
              elasticsearch:
                hosts: ["\(server.url)"]
                api_key: "${DEFEND_TEST_KEY}"
                flush_interval: 100ms
                backoff: {init: 50ms, max: 500ms}
                timeout: 2s
            queue:
              path: queue
            """.write(toFile: config, atomically: true, encoding: .utf8)
        setenv("DEFEND_TEST_KEY", "agent:k3y", 1)
        let log = dir + "/agent.log"
        let prefix = "dfm\(UUID().uuidString.prefix(6).lowercased())"

        var agent = try startAgent(config: config, ready: dir + "/ready", log: log)
        defer { if agent.isRunning { agent.terminate() } }
        var expected = try spawnMarked(prefix + "-a", count: 20)
        #expect(waitUntil(20) { storedMarkers(server, prefix: prefix).count >= 20 }, "first delivery; log \(log)")

        server.stop()  // the outage
        expected += try spawnMarked(prefix + "-b", count: 20)
        usleep(1_500_000)  // within 1 s a document is fsync'd in the queue
        kill(agent.processIdentifier, SIGKILL)
        agent.waitUntilExit()

        agent = try startAgent(config: config, ready: dir + "/ready2", log: log)
        expected += try spawnMarked(prefix + "-c", count: 20)
        usleep(500_000)
        try server.start(port: port)
        defer { server.stop() }
        #expect(waitUntil(60) { Set(storedMarkers(server, prefix: prefix)).isSuperset(of: expected) }, "log \(log)")
        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "log \(log)")

        let agentLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(agentLog.contains("from a previous run are waiting"), "the restarted agent found the killed one's queue")
        let stored = storedMarkers(server, prefix: prefix)
        #expect(Set(stored) == Set(expected), "nothing lost")
        #expect(stored.count == expected.count, "nothing stored twice")
        #expect(Set(server.documents.map(\.id)).count == server.documents.count)
        #expect(server.itemStatuses[409, default: 0] >= 0)
    }
}
