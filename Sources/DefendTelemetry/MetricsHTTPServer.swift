#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `--metrics-address HOST:PORT`, parsed: an IPv4 or IPv6 literal (IPv6 in brackets) or a host name.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) { self.host = host; self.port = port }

    /// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464"; port 0 picks a free port.
    public init(parsing text: String) throws(TelemetryError) {
        guard let colon = text.lastIndex(of: ":") else {
            throw .badAddress(text, "expected HOST:PORT, e.g. 127.0.0.1:9464")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw .badAddress(text, "unbalanced [ ] around the IPv6 address") }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw .badAddress(text, "write an IPv6 address in brackets: [::1]:9464")
        }
        guard !host.isEmpty else { throw .badAddress(text, "the host is empty (use 0.0.0.0 for every interface)") }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw .badAddress(text, "the port must be a number from 0 to 65535")
        }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public enum TelemetryError: Error, CustomStringConvertible, Sendable {
    case badAddress(String, String)
    case cannotListen(String, String)
    case statusSocket(String, String)

    public var description: String {
        switch self {
        case let .badAddress(text, why): return "metrics address '\(text)': \(why)"
        case let .cannotListen(address, why): return "cannot serve metrics on \(address): \(why)"
        case let .statusSocket(path, why): return "status socket \(path): \(why)"
        }
    }
}

/// CLOCK_BOOTTIME in nanoseconds (the clock the loop stamps snapshots with).
public func bootTimeNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// A small HTTP/1.1 server on its own event-loop thread: GET /metrics, /healthz and /readyz, each
/// answered from the latest snapshot (the agent's loop is never called). Connections are closed after
/// one answer, idle ones after 10 s, and at most 64 are open at once.
public final class MetricsHTTPServer: Sendable {
    public let address: ListenAddress
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    static let maxConnections = 64

    public init(address requested: ListenAddress, snapshots: SnapshotBox, health: HealthCheck = HealthCheck(),
                clock: @escaping @Sendable () -> UInt64 = bootTimeNs) throws(TelemetryError) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let exposition = PrometheusExposition()
        let connections = ConnectionCounter()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard connections.open() else {
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in connections.closed() }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        Responder(snapshots: snapshots, exposition: exposition, health: health, clock: clock))
                }
            }
        do {
            channel = try bootstrap.bind(host: requested.host, port: requested.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw .cannotListen(requested.description, "\(error)")
        }
        self.group = group
        let bound = channel.localAddress?.port ?? requested.port
        address = ListenAddress(host: requested.host, port: bound)
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

private final class ConnectionCounter: Sendable {
    private let count = Atomic<Int>(0)
    func open() -> Bool {
        if count.add(1, ordering: .relaxed).newValue > MetricsHTTPServer.maxConnections {
            count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }
    func closed() { count.subtract(1, ordering: .relaxed) }
}

private final class Responder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let snapshots: SnapshotBox
    let exposition: PrometheusExposition
    let health: HealthCheck
    let clock: @Sendable () -> UInt64
    private var request: HTTPRequestHead?

    init(snapshots: SnapshotBox, exposition: PrometheusExposition, health: HealthCheck, clock: @escaping @Sendable () -> UInt64) {
        self.snapshots = snapshots
        self.exposition = exposition
        self.health = health
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // GET only: a body is ignored, never buffered
        case .end:
            guard let head = request else { return }
            request = nil
            let (status, contentType, body) = answer(head)
            respond(context: context, status: status, contentType: contentType, body: body)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        guard head.method == .GET else {
            return (.methodNotAllowed, "text/plain", Array("only GET\n".utf8))
        }
        let now = clock()
        let snapshot = snapshots.read()
        switch path {
        case "/metrics":
            guard let snapshot else { return (.serviceUnavailable, "text/plain", Array("starting\n".utf8)) }
            let age = now >= snapshot.publishedBootNs ? Double(now - snapshot.publishedBootNs) / 1e9 : 0
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", exposition.render(snapshot, snapshotAgeSeconds: age))
        case "/healthz":
            let v = health.health(snapshot, nowBootNs: now)
            return (v.ok ? .ok : .serviceUnavailable, "text/plain", Array((v.reason + "\n").utf8))
        case "/readyz":
            let v = health.readiness(snapshot, nowBootNs: now)
            return (v.ok ? .ok : .serviceUnavailable, "text/plain", Array((v.reason + "\n").utf8))
        default:
            return (.notFound, "text/plain", Array("not found: /metrics, /healthz, /readyz\n".utf8))
        }
    }

    func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String, body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
