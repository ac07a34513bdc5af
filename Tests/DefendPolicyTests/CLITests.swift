import Foundation
import Testing

/// Runs the built `defend` binary (it sits next to the test bundle in the build directory).
struct DefendCLI {
    static let binary: URL = {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("defend")
    }()

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ args: [String], stdin: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    /// Writes `text` to a fresh temporary file and returns its path.
    static func temp(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }
}

func jsonLines(_ s: String) throws -> [[String: Any]] {
    try s.split(separator: "\n").map { line in
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}

@Suite(.serialized) struct PolicyCLI {
    static let good = """
        version: 1
        process:
          selectors:
            - name: all
              operation: [exec]
            - name: shells
              processName: [sh]
              sessionLeaderInteractive: true
          responses:
            - match: [all]
              actions: [log]
            - match: [shells]
              actions: [alert]
        file:
          selectors:
            - name: bins
              targetFilePath: [/usr/bin/**]
          responses:
            - match: [bins]
              actions: [alert]
        """
    static let bad = """
        file:
          selectors:
            - name: bins
              targetFilePath: [/usr/bin*]
          responses:
            - match: [bins, nope]
              actions: [block]
        """

    @Test func binaryExists() {
        #expect(FileManager.default.isExecutableFile(atPath: DefendCLI.binary.path),
                "build the package first (swift build --build-tests): \(DefendCLI.binary.path)")
    }

    @Test func validateText() throws {
        let good = try DefendCLI.temp("good.yaml", Self.good)
        let bad = try DefendCLI.temp("bad.yaml", Self.bad)
        let ok = try DefendCLI.run(["policy", "validate", good])
        #expect(ok.status == 0)
        #expect(ok.stderr == "\(good):1:1: warning: version: unknown key 'version' is ignored (a policy has `file:` and `process:` sections)\n")
        let r = try DefendCLI.run(["policy", "validate", good, bad])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(bad):4:24: error: file.selectors[0].targetFilePath[0]: '/usr/bin*': a wildcard must be a whole last component: /dir/* (direct children) or /dir/** (all descendants)"))
        #expect(lines.contains("\(bad):6:21: error: file.responses[0].match[1]: no file selector is named 'nope'"))
        #expect(lines.contains { $0.hasPrefix("\(bad):7:16: error: file.responses[0].actions: `block` requires `alert`") })
        let missing = try DefendCLI.run(["policy", "validate", "/nonexistent.yaml"])
        #expect(missing.status == 1 && missing.stderr == "/nonexistent.yaml: error: no such file\n")
    }

    @Test func validateJSON() throws {
        let good = try DefendCLI.temp("good.yaml", Self.good)
        let bad = try DefendCLI.temp("bad.yaml", Self.bad)
        let r = try DefendCLI.run(["policy", "validate", "--format", "json", good, bad])
        #expect(r.status == 1)
        let docs = try jsonLines(r.stdout)
        #expect(docs.count == 2)
        #expect(docs[0]["file"] as? String == good && docs[0]["valid"] as? Bool == true)
        #expect((docs[0]["errors"] as? [Any])?.isEmpty == true && (docs[0]["warnings"] as? [Any])?.count == 1)
        #expect(docs[1]["valid"] as? Bool == false)
        let errors = try #require(docs[1]["errors"] as? [[String: Any]])
        #expect(errors.count == 3)
        #expect(errors[0]["line"] as? Int == 4 && errors[0]["column"] as? Int == 24)
        #expect(errors[0]["path"] as? String == "file.selectors[0].targetFilePath[0]")
        #expect((errors[0]["message"] as? String)?.contains("wildcard") == true)
    }

    @Test func dryRunWithExplainAndScope() throws {
        let policy = try DefendCLI.temp("p.yaml", Self.good)
        let events = """
            {"type":"process","operation":"exec","process":{"executable":"/bin/sh","name":"sh"},"sessionLeaderInteractive":true,"container":{"id":"c"}}
            {"type":"file","operation":"createFile","targetPath":"/tmp/x","container":{"id":"c"}}
            {"type":"process","operation":"exec","process":{"executable":"/bin/sh","name":"sh"},"sessionLeaderInteractive":true,"container":null}

            {"type":"file","operation":"createFile","targetPath":"/usr/bin/../bin/./x","container":{"id":"c"}}
            """
        let path = try DefendCLI.temp("events.ndjson", events)
        let r = try DefendCLI.run(["policy", "test", "--policy", policy, "--events", path, "--explain"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdout.split(separator: "\n").map(String.init)
        #expect(out.count == 4)
        #expect(out[0] == #"{"actions":["alert","log"],"matched_selectors":["all","shells"],"explain":{"all":"matched","shells":"matched"}}"#)
        #expect(out[1] == #"{"actions":[],"matched_selectors":[],"explain":{"bins":"targetFilePath: /tmp/x is not under /usr/bin/**"}}"#)
        #expect(out[2].hasPrefix(#"{"actions":[],"matched_selectors":[],"explain":{"all":"operation outside a container"#))
        #expect(out[3].hasPrefix(#"{"actions":["alert"],"matched_selectors":["bins"]"#))

        let all = try DefendCLI.run(["policy", "test", "--policy", policy, "--events", path, "--scope", "all"])
        let lines = all.stdout.split(separator: "\n").map(String.init)
        #expect(lines[2] == #"{"actions":["alert","log"],"matched_selectors":["all","shells"]}"#)
    }

    @Test func stdinAndMalformedLines() throws {
        let policy = try DefendCLI.temp("p.yaml", Self.good)
        let r = try DefendCLI.run(["policy", "test", "--policy", policy, "--events", "-"], stdin: """
            {"operation":"exec","process":{"executable":"/bin/ls","name":"ls"},"container":{"id":"c"}}
            {"operation":"exec",
            {"operation":"teleport"}
            {"operation":"exec","process":{"executable":"/bin/ls","name":"ls"},"container":{"id":"c"}}
            {"event":{"category":["process"],"action":"end"},"container":{"id":"c"}}

            """)
        #expect(r.status == 1)
        let docs = try jsonLines(r.stdout)
        #expect(docs.count == 5)
        #expect(docs[0]["actions"] as? [String] == ["log"])
        #expect(docs[4]["skipped"] as? String == "event.action \"end\" is not a policy operation")
        #expect((docs[1]["error"] as? String)?.hasPrefix("line 2: not JSON") == true)
        #expect((docs[2]["error"] as? String)?.hasPrefix("line 3: unknown operation") == true)
        #expect(docs[3]["matched_selectors"] as? [String] == ["all"])
    }

    @Test func invalidPolicyForTestExitsTwo() throws {
        let bad = try DefendCLI.temp("bad.yaml", Self.bad)
        let r = try DefendCLI.run(["policy", "test", "--policy", bad, "--events", "-"], stdin: "")
        #expect(r.status == 2 && r.stderr.contains("error:") && r.stdout.isEmpty)
    }

    @Test func shippedPoliciesAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = root.appendingPathComponent("policies")
        let examples = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("examples").path)
            .map { dir.appendingPathComponent("examples").appendingPathComponent($0).path }
        #expect(examples.count >= 3)
        let r = try DefendCLI.run(["policy", "validate", dir.appendingPathComponent("default.yaml").path] + examples)
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        // policies/default.yaml is the same text as DefaultPolicy.yaml.
        let text = try String(contentsOfFile: dir.appendingPathComponent("default.yaml").path, encoding: .utf8)
        #expect(text == DefaultPolicy.yaml)
    }
}

import DefendPolicy
