import Foundation
import Testing

/// The `defend` binary against careless input (issue 10, hardening).
@Suite(.serialized) struct CLIHardeningTests {
    static let policy = """
        process:
          selectors:
            - name: all
              operation: [exec]
          responses:
            - match: [all]
              actions: [log]
        """
    static let exec = #"{"operation":"exec","process":{"executable":"/bin/ls","name":"ls"},"container":{"id":"c"}}"#

    /// `--stats-interval 18446744074` crashed the agent with an arithmetic overflow; now it is a
    /// usage error (exit 64) before anything starts.
    @Test(arguments: [["--stats-interval", "18446744074"], ["--heartbeat-interval", "99999999999"],
                      ["--stats-interval", "-1"]])
    func hugeIntervalsAreUsageErrors(args: [String]) throws {
        let r = try DefendCLI.run(["run", "--state-dir", NSTemporaryDirectory() + "/defend-unused", args[0] + "=" + args[1]])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("\(args[0]) must be between 0 and 31536000 seconds (one year), not \(args[1])"), "\(r.stderr)")
    }

    /// A CRLF events file was read as one line.
    @Test func crlfEventsFile() throws {
        let p = try DefendCLI.temp("p.yaml", Self.policy)
        let events = try DefendCLI.temp("events.ndjson", Self.exec + "\r\n" + Self.exec + "\r\n")
        let r = try DefendCLI.run(["policy", "test", "--policy", p, "--events", events])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.split(separator: "\n") == [#"{"actions":["log"],"matched_selectors":["all"]}"#,
                                                     #"{"actions":["log"],"matched_selectors":["all"]}"#])
    }

    /// A stdin line too long for memory ended the input silently with exit 0: now the line is
    /// reported with its number, the lines after it are still evaluated, and the exit is 1.
    @Test func overlongLineIsAnErrorWithItsNumber() throws {
        let p = try DefendCLI.temp("p.yaml", Self.policy)
        let long = String(repeating: "x", count: 3 << 20)
        let r = try DefendCLI.run(["policy", "test", "--policy", p, "--events", "-"],
                                  stdin: Self.exec + "\n" + long + "\n" + Self.exec + "\n")
        #expect(r.status == 1)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[1] == #"{"error":"line 2: the line is 3145728 bytes long; at most 1048576 are allowed"}"#)
        #expect(lines[2] == #"{"actions":["log"],"matched_selectors":["all"]}"#)
    }

    @Test func unreadableEventsFileIsNamed() throws {
        let p = try DefendCLI.temp("p.yaml", Self.policy)
        let r = try DefendCLI.run(["policy", "test", "--policy", p, "--events", "/nonexistent/events"])
        #expect(r.status == 2)
        #expect(r.stderr == "/nonexistent/events: no such file\n")
        let d = try DefendCLI.run(["policy", "test", "--policy", p, "--events", "/"])
        #expect(d.status == 2)
        #expect(d.stderr == "/: is a directory, not an events file\n")
    }

    /// `policy validate` and `policy test` hung on a FIFO. A watchdog opens the FIFO after 10 s so a
    /// regression fails (with the wrong message) instead of hanging the suite.
    @Test func fifoPolicyDoesNotHangTheCommands() throws {
        let dir = NSTemporaryDirectory() + "defend-fifo-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fifo = dir + "/policy.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        Thread.detachNewThread {
            for _ in 0..<2 {
                sleep(10)
                let fd = open(fifo, O_WRONLY | O_NONBLOCK)
                if fd >= 0 { close(fd) }
            }
        }
        let v = try DefendCLI.run(["policy", "validate", fifo])
        #expect(v.status == 1)
        #expect(v.stderr == "\(fifo): error: is a FIFO (named pipe), not a regular file; a policy must be a regular file\n")
        let t = try DefendCLI.run(["policy", "test", "--policy", fifo, "--events", "-"], stdin: Self.exec + "\n")
        #expect(t.status == 2)
        #expect(t.stderr.contains("is a FIFO (named pipe)"))
    }
}
