import Foundation
import Testing

/// The real agent on this machine's kernel with its metrics endpoint and status socket: processes are
/// spawned, then /metrics, /readyz and `defend status` must show them. Needs root (BPF).
@Suite(.serialized) struct MetricsHostTests {
    static var isRoot: Bool { getuid() == 0 }

    /// Plain HTTP GET on 127.0.0.1: (status, body); nil when nothing listens.
    static func get(_ port: Int, _ path: String) -> (Int, String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let status = Int(text.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return (status, text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n"))
    }

    static func series(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = v
        }
        return out
    }

    static func logLines(_ path: String) throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(o as? [String: Any], "log line is not a JSON object: \(line)")
        }
    }

    static func runStatus(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: RunCommandHostTests.defendBinary())
        p.arguments = ["status"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.enabled(if: MetricsHostTests.isRoot, "needs root to load BPF programs"))
    func metricsHealthAndStatusOfARunningAgent() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-metrics-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let log = dir + "/agent.log", socketPath = dir + "/run/defend.sock"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: RunCommandHostTests.defendBinary())
        agent.arguments = ["run", "--scope", "all", "--output", dir + "/events.ndjson", "--state-dir", dir + "/state",
                           "--no-cloud-metadata", "--stats-interval", "0", "--heartbeat-interval", "0",
                           "--metrics-address", "127.0.0.1:0", "--status-socket", socketPath,
                           "--log-format", "json", "--bpf-stats"]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        agent.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try agent.run()
        defer { if agent.isRunning { agent.terminate() } }

        // The metrics address (port 0: the kernel picked one) is in the log.
        var port = 0
        let deadline = Date().addingTimeInterval(30)
        while port == 0, agent.isRunning, Date() < deadline {
            for line in try Self.logLines(log) {
                if let m = line["message"] as? String, m.hasPrefix("metrics: serving"),
                   let url = m.split(separator: " ").last, let p = url.split(separator: ":").last.flatMap({ Int($0) }) {
                    port = p
                }
            }
            usleep(50_000)
        }
        try #require(port != 0, "no metrics address in the log: \(log)")

        // Ready once attached and enforcing (start-up may be seen as 503 first).
        var ready = Self.get(port, "/readyz")
        while ready?.0 != 200, agent.isRunning, Date() < deadline {
            usleep(100_000)
            ready = Self.get(port, "/readyz")
        }
        try #require(ready?.0 == 200, "not ready: \(String(describing: ready)); log: \(log)")
        #expect(Self.get(port, "/healthz")?.0 == 200)
        let before = Self.series(Self.get(port, "/metrics")?.1 ?? "")
        let execBefore = before[#"defend_kernel_records_total{type="exec"}"#] ?? 0

        // The workload: 20 short processes.
        for _ in 0..<20 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/true")
            try p.run()
            p.waitUntilExit()
        }
        var after: [String: Double] = [:]
        let scrapeDeadline = Date().addingTimeInterval(15)
        repeat {
            usleep(300_000)
            after = Self.series(Self.get(port, "/metrics")?.1 ?? "")
        } while (after[#"defend_kernel_records_total{type="exec"}"#] ?? 0) < execBefore + 20 && Date() < scrapeDeadline

        #expect((after[#"defend_kernel_records_total{type="exec"}"#] ?? 0) >= execBefore + 20)
        #expect((after[#"defend_kernel_records_total{type="fork"}"#] ?? 0) >= 20)
        #expect((after[#"defend_kernel_records_total{type="exit"}"#] ?? 0) >= 20)
        // The default policy logs every fork and exec under --scope all.
        #expect((after[#"defend_decisions_total{action="log"}"#] ?? 0) >= 40)
        #expect((after["defend_documents_total"] ?? 0) >= 40)
        #expect(after[#"defend_kernel_records_lost_total{reason="ring_buffer_full",type="exec"}"#] != nil)
        #expect(after["defend_decode_errors_total"] == 0)
        #expect(after["defend_output_documents_dropped_total"] == 0)
        #expect(after["defend_ready"] == 1)
        #expect(after["defend_policy_generation"] != nil)
        #expect((after["defend_processes"] ?? 0) > 0)
        #expect((after["process_resident_memory_bytes"] ?? 0) > Double(1 << 20))
        #expect((after["process_cpu_seconds_total"] ?? 0) > 0)
        #expect(after[#"defend_queue_depth{queue="kernel_ring_buffer_bytes"}"#] != nil)
        // The ring reader's hand-off to the loop (its own thread) is reported, and waits are counted.
        #expect(after[#"defend_queue_capacity{queue="ring_reader_handoff_events"}"#] == 65536)
        #expect(after["defend_ring_reader_backpressure_waits_total"] != nil)
        // --bpf-stats: the kernel counted the exec program's runs.
        #expect(after["defend_bpf_stats_enabled"] == 1)
        #expect((after[#"defend_bpf_program_runs_total{program="defend_exec"}"#] ?? 0) >= 20)
        #expect((after[#"defend_bpf_program_run_time_seconds_total{program="defend_exec"}"#] ?? 0) > 0)
        print("metrics host test: agent RSS \(Int((after["process_resident_memory_bytes"] ?? 0) / 1_048_576)) MiB, "
              + "CPU \(after["process_cpu_seconds_total"] ?? 0) s")

        // defend status, JSON and text.
        let (jsonStatus, json) = try Self.runStatus(["--status-socket", socketPath, "--json"])
        #expect(jsonStatus == 0, "\(json)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(report["ready"] as? Bool == true)
        let snapshot = try #require(report["snapshot"] as? [String: Any])
        let policy = try #require(snapshot["policy"] as? [String: Any])
        #expect(Double(policy["generation"] as? Int ?? -1) == after["defend_policy_generation"])
        let kernel = try #require(snapshot["kernel"] as? [String: Any])
        #expect((kernel["features"] as? String)?.contains("process events ON") == true)
        let (textStatus, text) = try Self.runStatus(["--status-socket", socketPath])
        #expect(textStatus == 0)
        #expect(text.contains("health:   healthy"), "\(text)")
        #expect(text.contains("policy:   generation"), "\(text)")
        #expect(text.contains("built-in default policy"), "\(text)")

        agent.terminate()
        agent.waitUntilExit()
        #expect(agent.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the status socket is removed at exit")
        #expect(try Self.runStatus(["--status-socket", socketPath]).0 == 2, "no agent: exit 2")
        #expect(Self.get(port, "/healthz") == nil, "the endpoint stops with the agent")

        // Every diagnostic line is one JSON object with a level and a message.
        let lines = try Self.logLines(log)
        #expect(lines.count >= 3)
        for line in lines {
            #expect(line["log.level"] is String && line["message"] is String && line["@timestamp"] is String)
        }
        #expect(lines.contains { ($0["message"] as? String)?.hasPrefix("stopping: ") == true })
    }

    @Test(.enabled(if: MetricsHostTests.isRoot, "needs root to load BPF programs"))
    func anUnusableMetricsAddressStopsTheStart() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: RunCommandHostTests.defendBinary())
        p.arguments = ["run", "--metrics-address", "localhost", "--status-socket", ""]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        #expect(String(decoding: data, as: UTF8.self).contains("HOST:PORT"))
    }
}
