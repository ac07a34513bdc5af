import Foundation
import Logging
import Synchronization
import Testing
@testable import DefendTelemetry

func sampleSnapshot(now: UInt64, ready: Bool = true, phase: AgentSnapshot.Phase = .running) -> AgentSnapshot {
    var s = AgentSnapshot()
    s.publishedBootNs = now
    s.lastDrainBootNs = now
    s.version = "0.1.0"
    s.agentID = "agent-1"
    s.ready = ready
    s.phase = phase
    s.policy.generation = 1
    s.policy.file = "/etc/defend/policy.yaml"
    s.policy.reloads = 2
    s.policy.reloadFailures = 1
    s.events.recordsByType = ["exec": 7, "fork": 9]
    s.events.decisionsByAction = ["log": 5, "alert": 1, "block": 0]
    s.events.denialsByOperation = ["exec": 3]
    s.losses.losses = [AgentSnapshot.Loss(type: "exec", reason: "ring_buffer_full", count: 4)]
    s.losses.decodeErrors = 1
    s.losses.readerBackpressureWaits = 6
    s.losses.readerBackpressureSeconds = 0.25
    s.output.documentsSent = 11
    s.output.documentsDropped = 2
    s.queues = [AgentSnapshot.QueueDepth(name: "kernel_ring_buffer_bytes", depth: 100, capacity: 8 << 20)]
    s.enrichment.processes = 42
    s.enrichment.containers = 3
    s.process.cpuSeconds = 1.5
    s.process.residentBytes = 30 << 20
    s.kernel.bpfStatsEnabled = true
    s.kernel.programs = [AgentSnapshot.ProgramStatistics(name: "defend_exec", runTimeNs: 2_000_000_000, runCount: 12)]
    return s
}

/// Metric lines of an exposition as "name{labels}" -> value.
func series(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = v
    }
    return out
}

@Suite struct ListenAddressTests {
    @Test func parsesHostAndPort() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:9479") == ListenAddress(host: "127.0.0.1", port: 9479))
        #expect(try ListenAddress(parsing: "[::1]:80") == ListenAddress(host: "::1", port: 80))
        #expect(try ListenAddress(parsing: "0.0.0.0:0").port == 0)
        #expect(ListenAddress(host: "::1", port: 80).description == "[::1]:80")
    }

    @Test(arguments: ["9479", "host:", ":9479", "::1:80", "[::1:80", "h:65536", "h:-1", "h:x"])
    func rejectsBadAddresses(_ text: String) {
        #expect(throws: TelemetryError.self) { try ListenAddress(parsing: text) }
    }
}

@Suite struct HealthCheckTests {
    let check = HealthCheck(maxSnapshotAgeNs: 10_000_000_000, maxDrainAgeNs: 10_000_000_000)
    let t0: UInt64 = 1_000_000_000_000

    @Test func startingIsNeitherHealthyNorReady() {
        #expect(!check.health(nil, nowBootNs: t0).ok)
        #expect(!check.readiness(nil, nowBootNs: t0).ok)
    }

    @Test func freshRunningSnapshotIsHealthyAndReady() {
        let s = sampleSnapshot(now: t0)
        #expect(check.health(s, nowBootNs: t0 + 1_000_000_000).ok)
        #expect(check.readiness(s, nowBootNs: t0 + 1_000_000_000).ok)
    }

    @Test func staleSnapshotMeansAStalledLoop() {
        let s = sampleSnapshot(now: t0)
        let later = t0 + 11_000_000_000
        let v = check.health(s, nowBootNs: later)
        #expect(!v.ok)
        #expect(v.reason.contains("stalled"))
        #expect(!check.readiness(s, nowBootNs: later).ok)
    }

    @Test func ringBufferNotDrainedIsUnhealthy() {
        var s = sampleSnapshot(now: t0 + 11_000_000_000)
        s.lastDrainBootNs = t0
        let v = check.health(s, nowBootNs: t0 + 11_000_000_000)
        #expect(!v.ok)
        #expect(v.reason.contains("not drained"))
    }

    @Test func notReadyAndStoppingAreReported() {
        let notReady = sampleSnapshot(now: t0, ready: false)
        #expect(check.health(notReady, nowBootNs: t0).ok)
        #expect(!check.readiness(notReady, nowBootNs: t0).ok)
        let stopping = sampleSnapshot(now: t0, ready: false, phase: .stopping)
        #expect(!check.health(stopping, nowBootNs: t0).ok)
        #expect(!check.readiness(stopping, nowBootNs: t0).ok)
    }
}

@Suite struct PrometheusExpositionTests {
    @Test func everySnapshotFieldBecomesASeries() {
        let text = String(decoding: PrometheusExposition().render(sampleSnapshot(now: 1), snapshotAgeSeconds: 0.5), as: UTF8.self)
        let s = series(text)
        #expect(s[#"defend_kernel_records_total{type="exec"}"#] == 7)
        #expect(s[#"defend_kernel_records_total{type="fork"}"#] == 9)
        #expect(s[#"defend_decisions_total{action="log"}"#] == 5)
        #expect(s[#"defend_denials_total{operation="exec"}"#] == 3)
        #expect(s[#"defend_kernel_records_lost_total{reason="ring_buffer_full",type="exec"}"#] == 4)
        #expect(s["defend_decode_errors_total"] == 1)
        #expect(s["defend_ring_reader_backpressure_waits_total"] == 6)
        #expect(s["defend_ring_reader_backpressure_seconds_total"] == 0.25)
        #expect(s[#"defend_queue_depth{queue="kernel_ring_buffer_bytes"}"#] == 100)
        #expect(s["defend_output_documents_sent_total"] == 11)
        #expect(s["defend_output_documents_dropped_total"] == 2)
        #expect(s["defend_output_documents_retried_total"] == 0)
        #expect(s["defend_output_documents_dead_lettered_total"] == 0)
        #expect(s["defend_policy_reloads_total"] == 2)
        #expect(s["defend_policy_reload_failures_total"] == 1)
        #expect(s["defend_policy_generation"] == 1)
        #expect(s["defend_processes"] == 42)
        #expect(s["defend_containers"] == 3)
        #expect(s["defend_kubernetes_watch_restarts_total"] == 0)
        #expect(s["process_cpu_seconds_total"] == 1.5)
        #expect(s["process_resident_memory_bytes"] == Double(30 << 20))
        #expect(s["defend_bpf_stats_enabled"] == 1)
        #expect(s[#"defend_bpf_program_run_time_seconds_total{program="defend_exec"}"#] == 2)
        #expect(s[#"defend_bpf_program_runs_total{program="defend_exec"}"#] == 12)
        #expect(s["defend_snapshot_age_seconds"] == 0.5)
        #expect(text.contains("# TYPE defend_kernel_records_total counter"))
        #expect(text.contains("# TYPE defend_processes gauge"))
    }

    /// Counters are set to the snapshot's totals on each scrape, never added up across scrapes.
    @Test func countersFollowTheLatestSnapshot() {
        let exposition = PrometheusExposition()
        var snapshot = sampleSnapshot(now: 1)
        _ = exposition.render(snapshot, snapshotAgeSeconds: 0)
        snapshot.events.recordsByType["exec"] = 8
        let s = series(String(decoding: exposition.render(snapshot, snapshotAgeSeconds: 0), as: UTF8.self))
        #expect(s[#"defend_kernel_records_total{type="exec"}"#] == 8)
    }

    @Test func unreadableBPFStatsIsMinusOne() {
        var snapshot = sampleSnapshot(now: 1)
        snapshot.kernel.bpfStatsEnabled = nil
        let s = series(String(decoding: PrometheusExposition().render(snapshot, snapshotAgeSeconds: 0), as: UTF8.self))
        #expect(s["defend_bpf_stats_enabled"] == -1)
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    let now = Atomic<UInt64>(1_000_000_000_000)
    func read() -> UInt64 { now.load(ordering: .relaxed) }
    func advance(seconds: UInt64) { now.add(seconds * 1_000_000_000, ordering: .relaxed) }
}

/// GET over a plain socket: (status code, body).
func httpGet(port: Int, path: String, method: String = "GET") throws -> (Int, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(fd >= 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    let request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        data.append(contentsOf: buf[0..<n])
    }
    let text = String(decoding: data, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, body)
}

@Suite(.serialized) struct MetricsHTTPServerTests {
    @Test func healthAndReadyFollowTheSnapshots() throws {
        let box = SnapshotBox()
        let clock = TestClock()
        let server = try MetricsHTTPServer(address: ListenAddress(host: "127.0.0.1", port: 0), snapshots: box,
                                           clock: { clock.read() })
        defer { server.stop() }
        let port = server.address.port
        #expect(port != 0)

        // Starting: nothing published yet.
        #expect(try httpGet(port: port, path: "/healthz").0 == 503)
        #expect(try httpGet(port: port, path: "/readyz").0 == 503)
        #expect(try httpGet(port: port, path: "/metrics").0 == 503)

        // Loaded but not yet enforcing: alive, not ready.
        box.publish(sampleSnapshot(now: clock.read(), ready: false))
        #expect(try httpGet(port: port, path: "/healthz").0 == 200)
        #expect(try httpGet(port: port, path: "/readyz").0 == 503)

        // Running.
        box.publish(sampleSnapshot(now: clock.read()))
        #expect(try httpGet(port: port, path: "/healthz").0 == 200)
        let ready = try httpGet(port: port, path: "/readyz")
        #expect(ready.0 == 200)
        #expect(ready.1.contains("generation 1"))
        let metrics = try httpGet(port: port, path: "/metrics")
        #expect(metrics.0 == 200)
        #expect(series(metrics.1)[#"defend_kernel_records_total{type="exec"}"#] == 7)

        // The loop stops publishing: after 11 s both fail.
        clock.advance(seconds: 11)
        let stalled = try httpGet(port: port, path: "/healthz")
        #expect(stalled.0 == 503)
        #expect(stalled.1.contains("stalled"))
        #expect(try httpGet(port: port, path: "/readyz").0 == 503)

        // It publishes again: healthy again.
        box.publish(sampleSnapshot(now: clock.read()))
        #expect(try httpGet(port: port, path: "/healthz").0 == 200)

        #expect(try httpGet(port: port, path: "/nope").0 == 404)
        #expect(try httpGet(port: port, path: "/metrics", method: "POST").0 == 405)
    }

    @Test func anAddressInUseIsAnError() throws {
        let box = SnapshotBox()
        let first = try MetricsHTTPServer(address: ListenAddress(host: "127.0.0.1", port: 0), snapshots: box)
        defer { first.stop() }
        #expect(throws: TelemetryError.self) {
            _ = try MetricsHTTPServer(address: ListenAddress(host: "127.0.0.1", port: first.address.port), snapshots: box)
        }
    }
}

func privateDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-status-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    return dir
}

@Suite(.serialized) struct StatusSocketTests {
    @Test func answersWithTheLatestSnapshotAndCleansUp() throws {
        let dir = try privateDirectory()
        let path = dir + "/defend.sock"
        let box = SnapshotBox()
        let server = try StatusServer(path: path, snapshots: box)
        var st = stat()
        #expect(lstat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600, "the status socket is root-only")

        let starting = try StatusClient.fetch(path: path)
        #expect(starting.snapshot == nil)
        #expect(!starting.ready)

        box.publish(sampleSnapshot(now: bootTimeNs()))
        let report = try StatusClient.fetch(path: path)
        #expect(report.healthy && report.ready)
        #expect(report.snapshot?.policy.generation == 1)
        #expect(report.snapshot?.policy.file == "/etc/defend/policy.yaml")
        #expect(report.snapshot?.events.recordsByType["exec"] == 7)

        let text = StatusText.render(report)
        #expect(text.contains("policy:   generation 1, /etc/defend/policy.yaml"))
        #expect(text.contains("records:  exec=7 fork=9"))
        #expect(text.contains("denied:   exec=3"))
        #expect(text.contains("lost:     exec/ring_buffer_full=4, decode errors 1"))
        #expect(text.contains("BPF run-time statistics on: 12 program runs"))

        server.stop()
        #expect(lstat(path, &st) != 0, "the socket is removed at stop")
        #expect(throws: TelemetryError.self) { try StatusClient.fetch(path: path) }
    }

    @Test func aStaleSocketIsReplacedAndALiveOneIsNot() throws {
        let dir = try privateDirectory()
        let path = dir + "/defend.sock"
        // A socket file left by a killed agent (bound, then closed without unlink).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = StatusServer.address(path)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        let server = try StatusServer(path: path, snapshots: SnapshotBox())
        defer { server.stop() }
        #expect(throws: TelemetryError.self) { _ = try StatusServer(path: path, snapshots: SnapshotBox()) }
        _ = try StatusClient.fetch(path: path)
    }

    @Test func refusesUnsafePlaces() throws {
        let dir = try privateDirectory()
        #expect(chmod(dir, 0o777) == 0)
        #expect(throws: TelemetryError.self) { _ = try StatusServer(path: dir + "/defend.sock", snapshots: SnapshotBox()) }
        #expect(chmod(dir, 0o700) == 0)
        _ = FileManager.default.createFile(atPath: dir + "/regular", contents: Data())
        #expect(throws: TelemetryError.self) { _ = try StatusServer(path: dir + "/regular", snapshots: SnapshotBox()) }
        let long = dir + "/" + String(repeating: "x", count: 120)
        #expect(throws: TelemetryError.self) { _ = try StatusServer(path: long, snapshots: SnapshotBox()) }
    }

    @Test func createsAMissingPrivateDirectory() throws {
        let dir = try privateDirectory() + "/run"
        let server = try StatusServer(path: dir + "/defend.sock", snapshots: SnapshotBox())
        defer { server.stop() }
        var st = stat()
        #expect(stat(dir, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
    }
}

@Suite struct LogOutputTests {
    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().contains(UInt8(ascii: "\n")) == false, "one line per message")
        let value = try JSONSerialization.jsonObject(with: Data(bytes))
        return try #require(value as? [String: Any])
    }

    @Test func jsonLinesParseAndCarryLevelMessageAndMetadata() throws {
        let line = DiagnosticLogHandler.jsonLine(level: .warning, message: "policy \"x\"\nline2\u{1}\t",
                                                 metadata: ["file": "/etc/p.yaml", "generation": "3"],
                                                 logger: "defend", unixNs: 1_764_700_000_123_000_000)
        let o = try object(line)
        #expect(o["log.level"] as? String == "warning")
        #expect(o["message"] as? String == "policy \"x\"\nline2\u{1}\t")
        #expect(o["log.logger"] as? String == "defend")
        #expect(o["file"] as? String == "/etc/p.yaml")
        #expect(o["@timestamp"] as? String == "2025-12-02T18:26:40.123Z")
    }

    @Test func secretMetadataIsRedactedInBothFormats() throws {
        let metadata: Logger.Metadata = ["elasticsearch.api_key": "c2VjcmV0", "password": "hunter2", "Authorization": "Bearer t"]
        let json = DiagnosticLogHandler.jsonLine(level: .info, message: "m", metadata: metadata, logger: "defend", unixNs: 0)
        let text = DiagnosticLogHandler.textLine(level: .info, message: "m", metadata: metadata)
        for line in [json, text] {
            let s = String(decoding: line, as: UTF8.self)
            #expect(!s.contains("c2VjcmV0") && !s.contains("hunter2") && !s.contains("Bearer t"), "\(s)")
            #expect(s.contains("[REDACTED]"))
        }
    }

    @Test func textLinesKeepTheDefendPrefix() {
        let line = String(decoding: DiagnosticLogHandler.textLine(level: .error, message: "boom", metadata: ["k": "v"]), as: UTF8.self)
        #expect(line == "defend: error: boom k=v\n")
    }

    @Test func levelsParse() {
        #expect(Logger.Level(name: "DEBUG") == .debug)
        #expect(Logger.Level(name: "warning") == .warning)
        #expect(Logger.Level(name: "verbose") == nil)
    }

    /// A handler at `warning` drops info and passes error (through a pipe, as stderr would be).
    @Test func levelFiltersAndOneWritePerLine() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        var logger = Logger(label: "defend") { DiagnosticLogHandler(label: $0, format: .json, level: .warning, fd: fds[1]) }
        logger.info("hidden")
        logger.error("shown", metadata: ["token": "abc"])
        logger.logLevel = .info
        logger.info("now shown")
        close(fds[1])
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        close(fds[0])
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["message"] as? String == "shown")
        #expect(first?["token"] as? String == "[REDACTED]")
    }
}

@Suite struct ProcessUsageTests {
    @Test func parsesStatWithSpacesInTheName() {
        let stat = "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 200"
        #expect(AgentSnapshot.ProcessUsage.parseStat(stat, ticksPerSecond: 100) == 3.0)
    }

    @Test func readsThisProcess() {
        let u = AgentSnapshot.ProcessUsage.current()
        #expect(u.residentBytes > 1 << 20)
        #expect(u.cpuSeconds > 0)
    }
}
