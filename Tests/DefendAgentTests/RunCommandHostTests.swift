import Foundation
import Testing

/// Runs the real `defend run --scope all` on this machine's kernel (tracepoints; root needed), executes a
/// known shell pipeline, and checks the exec documents: parent, args, working directory, leaders.
@Suite(.serialized) struct RunCommandHostTests {
    static var isRoot: Bool { getuid() == 0 }

    static func defendBinary() -> String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir.appendingPathComponent("defend").path,
                          dir.deletingLastPathComponent().appendingPathComponent("defend").path,
                          URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                              .deletingLastPathComponent().appendingPathComponent(".build/debug/defend").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    static func documents(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(line.prefix(200))")
        }
    }

    @Test(.enabled(if: RunCommandHostTests.isRoot, "needs root to load BPF programs"))
    func execDocumentsCarryTreeArgsAndWorkingDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/work dir", withIntermediateDirectories: true)
        let out = dir + "/events.ndjson", ready = dir + "/ready", log = dir + "/agent.log"

        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: Self.defendBinary())
        agent.arguments = ["run", "--scope", "all", "--output", out, "--ready-file", ready,
                           "--state-dir", dir + "/state", "--no-cloud-metadata", "--stats-interval", "0"]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        agent.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try agent.run()
        defer { if agent.isRunning { agent.terminate() } }
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready), agent.isRunning, Date() < deadline { usleep(50_000) }
        #expect(FileManager.default.fileExists(atPath: ready), "agent not ready; log: \(dir)/agent.log")

        // The workload: a shell (session leader via setsid) running a pipeline in a known directory.
        let marker = "defend-marker-\(UUID().uuidString.prefix(8))"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        shell.arguments = ["--wait", "/bin/sh", "-c", "cd '\(dir)/work dir' && /bin/echo \(marker) | /bin/cat > /dev/null; exit 3"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 3)
        usleep(500_000)
        agent.terminate()  // SIGTERM: flush and exit 0
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0, "agent log: \(log)")
        #expect(!FileManager.default.fileExists(atPath: ready), "ready file is removed on exit")

        let docs = try Self.documents(out)
        func process(_ d: [String: Any]) -> [String: Any] { d["process"] as? [String: Any] ?? [:] }
        func event(_ d: [String: Any]) -> [String: Any] { d["event"] as? [String: Any] ?? [:] }
        let execs = docs.filter { event($0)["action"] as? String == "exec" }

        let echo = try #require(execs.first { (process($0)["args"] as? [String]) == ["/bin/echo", marker] },
                                "no exec document for echo in \(out)")
        let sh = try #require(execs.first { (process($0)["args"] as? [String])?.last?.contains(marker) == true
                                            && (process($0)["args"] as? [String])?.first == "/bin/sh" },
                              "no exec document for the shell in \(out)")
        let p = process(echo), shp = process(sh)
        #expect(p["executable"] as? String == "/usr/bin/echo")
        #expect(p["working_directory"] as? String == dir + "/work dir")
        #expect(shp["working_directory"] as? String != dir + "/work dir", "the shell started before its cd")
        let parent = try #require(p["parent"] as? [String: Any])
        #expect(parent["pid"] as? Int == shp["pid"] as? Int)
        #expect(parent["entity_id"] as? String == shp["entity_id"] as? String)
        #expect(parent["args"] as? [String] == shp["args"] as? [String])
        // setsid made the shell the session leader of the pipeline.
        let session = try #require(p["session_leader"] as? [String: Any])
        #expect(session["pid"] as? Int == shp["pid"] as? Int)
        #expect((shp["session_leader"] as? [String: Any])?["same_as_process"] as? Bool == true)
        #expect(p["interactive"] as? Bool == false)
        #expect(p["entry_leader"] as? [String: Any] != nil)
        #expect(event(echo)["kind"] as? String == "event")
        #expect((echo["data_stream"] as? [String: Any])?["dataset"] as? String == "cloud_defend.process")
        #expect((echo["cloud_defend"] as? [String: Any])?["matched_selectors"] as? [String] == ["allProcesses"])
        // entity_id = base64("<agent.id>-<pid>-<start unix seconds>")
        let agentID = try #require((echo["agent"] as? [String: Any])?["id"] as? String)
        let entityID = try #require(p["entity_id"] as? String)
        let decoded = try #require(Data(base64Encoded: entityID))
        #expect(String(decoding: decoded, as: UTF8.self).hasPrefix("\(agentID)-\(p["pid"] as? Int ?? -1)-"))

        // The shell's end document carries its exit code.
        let ends = docs.filter { event($0)["action"] as? String == "end" && process($0)["pid"] as? Int == shp["pid"] as? Int }
        let end = try #require(ends.first, "no end document for the shell")
        #expect(process(end)["exit_code"] as? Int == 3)
        #expect(process(end)["end"] as? String != nil)
    }
}
