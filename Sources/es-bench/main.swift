// es-bench: documents per second through the Elasticsearch output (hand-off thread -> disk queue ->
// gzip bulk -> loopback) to a no-op bulk endpoint, CPU cost per document, and RSS with a full queue.
//   es-bench serve PORT      no-op `_bulk` endpoint (reads the body, answers errors:false)
//   es-bench run PORT N GZIP throughput against a running endpoint
//   es-bench fill BYTES      RSS after filling a queue of BYTES with the cluster unreachable
import DefendECS
import DefendOutput
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

final class NoOpBulk: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let answer = Array("{\"took\":0,\"errors\":false,\"items\":[]}".utf8)
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var h = HTTPHeaders()
        h.add(name: "Content-Length", value: "\(Self.answer.count)")
        h.add(name: "Content-Type", value: "application/json")
        h.add(name: "X-Elastic-Product", value: "Elasticsearch")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: h))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: Self.answer)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

func serve(_ port: Int) throws -> Never {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel = try ServerBootstrap(group: group)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { ch in
            ch.eventLoop.makeCompletedFuture {
                try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                try ch.pipeline.syncOperations.addHandler(NoOpBulk())
            }
        }.bind(host: "127.0.0.1", port: port).wait()
    try channel.closeFuture.wait()
    exit(0)
}

/// Process-like ECS documents of about 1.2 KB, each with its own event.id.
func document(_ i: Int, stream: DataStreamKind) -> ([UInt8], DocumentSpan) {
    let head = "{\"@timestamp\":\"2026-12-02T20:00:00.123Z\",\"agent\":{\"id\":\"4f1c2d7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f\",\"type\":\"cloud-defend\",\"version\":\"0.1.0\"},\"cloud_defend\":{\"hook_point\":[\"tracepoint__sched_process_exec\"],\"matched_selectors\":[\"allProcesses\"]},\"data_stream\":{\"dataset\":\"cloud_defend.process\",\"namespace\":\"default\",\"type\":\"logs\"},\"ecs\":{\"version\":\"8.7.0\"},\"event\":{\"action\":\"exec\",\"category\":[\"process\"],\"created\":\"2026-12-02T20:00:00.124Z\",\"dataset\":\"cloud_defend.process\",\"id\":\""
    let id = String(format: "%08x-0000-4000-8000-%012x", i, i)
    let rest = "\",\"kind\":\"event\",\"module\":\"cloud_defend\",\"type\":[\"start\"]},\"host\":{\"architecture\":\"x86_64\",\"hostname\":\"node-1\",\"id\":\"a1b2c3d4\",\"name\":\"node-1\",\"os\":{\"kernel\":\"6.18.0\",\"type\":\"linux\"}},\"process\":{\"args\":[\"/usr/bin/curl\",\"-s\",\"https://example.com/\(i)\"],\"entity_id\":\"ZGVmZW5kLWVudGl0eS0\(i)\",\"executable\":\"/usr/bin/curl\",\"name\":\"curl\",\"pid\":\(1000 + i % 30000),\"start\":\"2026-12-02T20:00:00.120Z\",\"working_directory\":\"/srv/app\",\"parent\":{\"args\":[\"/bin/sh\",\"-c\",\"curl -s https://example.com/\"],\"entity_id\":\"ZGVmZW5kLXBhcmVudA\",\"executable\":\"/bin/sh\",\"name\":\"sh\",\"pid\":999,\"start\":\"2026-12-02T19:59:59.000Z\"},\"user\":{\"id\":\"1000\"},\"group\":{\"id\":\"1000\"}},\"user\":{\"id\":\"1000\"}}\n"
    let bytes = Array((head + id + rest).utf8)
    return (bytes, DocumentSpan(length: Int32(bytes.count), idOffset: Int32(head.utf8.count), stream: stream))
}

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

func rssMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
}

let log: OutputLogger = { level, message in if level != .info { FileHandle.standardError.write(Data("es-bench: \(message)\n".utf8)) } }

func run(port: Int, count: Int, gzipLevel: Int) throws {
    let dir = NSTemporaryDirectory() + "es-bench-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var settings = ElasticsearchSettings()
    settings.hosts = ["http://127.0.0.1:\(port)"]
    settings.compressionLevel = gzipLevel
    settings.bulkMaxSize = 1600
    settings.flushInterval = 0.05
    var q = QueueSettings(path: dir)
    q.maxSize = 4 << 30
    let output = try ElasticsearchOutput(settings: settings, queue: q, namespace: "default", log: log)
    let sink = OutputThread(output: output, limitBytes: 256 << 20)
    let docs = (0..<1000).map { document($0, stream: .process) }
    let cpu0 = cpuSeconds()
    let t0 = Date()
    for i in 0..<count {
        let (bytes, span) = docs[i % docs.count]
        sink.append(bytes, span: span)
        if i % 256 == 255 {
            sink.flush()
            // A producer faster than the output meets the hand-off's bound (the agent would drop logs
            // there, counted); the throughput figure wants none dropped, so it waits instead.
            while sink.pendingBytes > sink.capacityBytes / 2 { usleep(200) }
        }
    }
    sink.flush()
    while output.statistics.documentsWritten + sink.statistics.documentsDropped < UInt64(count) { usleep(1000) }
    let seconds = Date().timeIntervalSince(t0)
    let cpu = cpuSeconds() - cpu0
    sink.close()
    let s = sink.statistics
    let rate = Double(count) / seconds
    print(String(format: "  gzip %d: %d documents (%.0f bytes each) in %.2f s: %.0f docs/s (target >= 200000: %@); CPU %.2f us/doc; dropped %llu",
                 gzipLevel, count, Double(docs[0].0.count), seconds, rate, rate >= 200_000 ? "met" : "NOT met",
                 cpu / Double(count) * 1e6, s.documentsDropped))
}

func fill(bytes: Int64) throws {
    let dir = NSTemporaryDirectory() + "es-bench-fill-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var settings = ElasticsearchSettings()
    settings.hosts = ["http://127.0.0.1:1"]  // unreachable: everything stays queued
    settings.backoffInit = 5
    var q = QueueSettings(path: dir)
    q.maxSize = bytes
    let output = try ElasticsearchOutput(settings: settings, queue: q, namespace: "default", log: { _, _ in })
    let sink = OutputThread(output: output)  // the agent's hand-off: 32 MiB (alerts 16 MiB more)
    let docs = (0..<1000).map { document($0, stream: .process) }
    let rss0 = rssMiB()
    var handoffPeak = 0
    var i = 0
    while output.statistics.queueBytes < UInt64(bytes) - UInt64(bytes / 50) || output.statistics.droppedLogs == 0 {
        for _ in 0..<4096 { let (b, s) = docs[i % docs.count]; sink.append(b, span: s); i += 1 }
        sink.flush()
        handoffPeak = max(handoffPeak, sink.pendingBytes)
        if i % (4096 * 16) == 0 { usleep(1000) }
    }
    usleep(300_000)
    let s = output.statistics
    print(String(format: "  queue full: %.0f MiB on disk, %llu documents queued, %llu logs dropped (oldest first); RSS %.1f MiB (%.1f MiB before filling)",
                 Double(s.queueBytes) / 1048576, s.documentsQueued, s.droppedLogs, rssMiB(), rss0))
    print(String(format: "  hand-off peak %.1f MiB (bound %.0f MiB), %llu documents dropped there",
                 Double(handoffPeak) / 1048576, Double(sink.capacityBytes) / 1048576,
                 sink.statistics.documentsDropped - s.documentsDropped))
    sink.close()
}

let args = CommandLine.arguments
switch args.dropFirst().first {
case "serve": try serve(Int(args[2]) ?? 19200)
case "run": try run(port: Int(args[2]) ?? 19200, count: Int(args[3]) ?? 1_000_000, gzipLevel: Int(args[4]) ?? 1)
case "fill": try fill(bytes: Int64(args[2]) ?? (1 << 30))
default: print("usage: es-bench serve PORT | run PORT N GZIP | fill BYTES"); exit(2)
}
