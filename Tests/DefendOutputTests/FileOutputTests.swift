import DefendECS
@testable import DefendOutput
import Foundation
import Synchronization
import Testing

final class LogCapture: @unchecked Sendable {
    let lines = Mutex<[(OutputLogLevel, String)]>([])
    var logger: OutputLogger { { [self] level, message in lines.withLock { $0.append((level, message)) } } }
    func count(_ level: OutputLogLevel) -> Int { lines.withLock { $0.filter { $0.0 == level }.count } }
}

@Suite(.serialized) struct FileOutputTests {
    static var isRoot: Bool { getuid() == 0 }

    @Test(.enabled(if: FileOutputTests.isRoot, "needs root to mount a small tmpfs"))
    func aFullFileSystemNeverLeavesATornLineAndCountsExactly() throws {
        let mountPoint = tempDir("tmpfs")
        #expect(mount("tmpfs", mountPoint, "tmpfs", 0, "size=64k") == 0, "mount tmpfs: \(String(cString: strerror(errno)))")
        defer { umount(mountPoint) }
        let capture = LogCapture()
        let output = try NDJSONFileOutput(path: mountPoint + "/events.ndjson", log: capture.logger)
        var factory = DocumentFactory()
        let pad = ",\"pad\":\"" + String(repeating: "y", count: 900) + "\""
        var total = 0
        for _ in 0..<20 {
            var chunk = DocumentChunk()
            for _ in 0..<7 {
                let (b, s, _) = factory.make(.process, extra: pad)
                chunk.bytes += b; chunk.spans.append(s)
            }
            output.write(chunk)
            total += 7
        }
        let s = output.statistics
        #expect(s.documentsDropped > 0, "the file system filled up")
        #expect(s.documentsWritten + s.documentsDropped == UInt64(total))
        let data = try #require(FileManager.default.contents(atPath: mountPoint + "/events.ndjson"))
        #expect(data.last == 0x0a, "no torn last line")
        let lines = data.split(separator: 0x0a)
        #expect(UInt64(lines.count) == s.documentsWritten, "the count of written documents is exact")
        for line in lines { #expect((try? JSONSerialization.jsonObject(with: Data(line))) != nil) }
        #expect(capture.count(.warning) == 1, "the first failure is a warning at once, not per write")
        #expect(s.failing)
        output.close(deadline: 0)
    }

    @Test func devFullIsAWarningAtOnceAndAFailingState() throws {
        let capture = LogCapture()
        let output = try NDJSONFileOutput(path: "/dev/full", log: capture.logger)
        output.persistentFailureSeconds = 0.05
        let sink = OutputThread(output: output)
        var factory = DocumentFactory()
        let (b, s, _) = factory.make(.alerts)
        sink.append(b, span: s); sink.flush()
        #expect(waitUntil(5) { capture.count(.warning) == 1 })
        usleep(100_000)
        sink.append(b, span: s); sink.flush()
        #expect(waitUntil(5) { capture.count(.error) == 1 }, "a persistent failure is an error")
        sink.close()
        #expect(sink.statistics.failing)
        #expect(sink.statistics.documentsDropped == 2)
    }

    /// SIGHUP with `--output FIFO` whose reader is gone: the reopen must not hang in open(2) (that held
    /// the output thread, and SIGTERM waited for it forever); the previous descriptor stays in use.
    @Test func reopeningAFIFOWithoutAReaderDoesNotHang() throws {
        let dir = tempDir("fifo")
        let fifo = dir + "/out"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        let capture = LogCapture()
        let output = try NDJSONFileOutput(path: fifo, log: capture.logger)
        close(reader)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { output.reopen(); done.signal() }
        #expect(done.wait(timeout: .now() + 20) == .success, "reopen blocked on a FIFO without a reader")
        #expect(output.statistics.failing)
        output.close(deadline: 0)
    }

    @Test func aReplacedOrDeletedFileIsReopened() throws {
        let dir = tempDir("rotate")
        let path = dir + "/out.ndjson"
        let capture = LogCapture()
        let output = try NDJSONFileOutput(path: path, log: capture.logger)
        let sink = OutputThread(output: output)
        var factory = DocumentFactory()
        func one() { let (b, s, _) = factory.make(.file); sink.append(b, span: s); sink.flush() }
        one()
        #expect(waitUntil(5) { output.statistics.documentsWritten == 1 })
        // logrotate without copytruncate: rename, then the agent must notice and write a new file.
        #expect(rename(path, path + ".1") == 0)
        usleep(1_300_000)
        one()
        #expect(waitUntil(5) { (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count == 1 })
        // Deleted.
        unlink(path)
        usleep(1_300_000)
        one()
        #expect(waitUntil(5) { (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").count == 1 })
        // SIGHUP path: reopen on request.
        #expect(rename(path, path + ".2") == 0)
        sink.reopen()
        usleep(200_000)
        one()
        #expect(waitUntil(5) { FileManager.default.fileExists(atPath: path) })
        sink.close()
        #expect(output.statistics.documentsWritten == 4)
        #expect(output.statistics.documentsDropped == 0)
    }

    @Test(.enabled(if: FileOutputTests.isRoot, "needs root to load BPF programs"))
    func theAgentExitsNonZeroWhenItsOutputFails() throws {
        let dir = tempDir("devfull-agent")
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: AgentDeliveryHostTests.defendBinary())
        agent.arguments = ["run", "--scope", "all", "--output", "/dev/full", "--ready-file", dir + "/ready",
                           "--state-dir", dir + "/state", "--no-cloud-metadata", "--stats-interval", "0"]
        let log = dir + "/agent.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        agent.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try agent.run()
        #expect(waitUntil(30) { FileManager.default.fileExists(atPath: dir + "/ready") })
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run(); p.waitUntilExit()
        usleep(800_000)
        agent.terminate()
        agent.waitUntilExit()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(agent.terminationStatus == 3, "log: \(text)")
        #expect(text.contains("warning: output standard output") || text.contains("warning: output /dev/full"))
        #expect(text.contains("error: the output was failing"))
    }

    @Test func namespaceIsCheckedAtStart() {
        #expect(throws: SinkError.self) {
            _ = try ElasticsearchOutput(settings: ElasticsearchSettings(), queue: QueueSettings(path: tempDir("ns")),
                                        namespace: "Bad-Name", log: quietLog)
        }
    }
}
