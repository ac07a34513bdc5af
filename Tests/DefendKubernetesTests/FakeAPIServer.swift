import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A local API server behaving as the Kubernetes API documents for pods and namespaces: paged lists
/// (`limit`/`continue`) with a resourceVersion, `fieldSelector=spec.nodeName=`, chunked watch streams
/// from a resourceVersion (one JSON event per line), BOOKMARK events, `410 Gone` (an ERROR event) for
/// a version older than the compaction point, bearer tokens (401), optional TLS with client
/// certificates. Tests change objects, drop watches, compact, rotate the token and restart it.
final class FakeAPIServer: @unchecked Sendable {
    struct Event { var rv: Int; var type: String; var kind: String; var object: [String: Any] }
    struct Request: Sendable { var path: String; var query: [String: String]; var authorization: String? }

    private let lock = NSLock()
    private var rv = 100
    private var pods: [String: [String: Any]] = [:]         // uid -> object
    private var namespaces: [String: [String: Any]] = [:]
    private var log: [Event] = []
    private var compactedBelow = 0
    private var watchers: [ObjectIdentifier: Watcher] = [:]
    private var _requests: [Request] = []
    var token: String? = "token-1"
    /// Split every watch event line into this many chunks (the client must not assume chunk = event).
    var splitEventsInto = 1
    /// Bytes of junk JSON written as one huge line to test the bound (0 = none).

    private struct Watcher {
        var channel: Channel
        var kind: String
        var nodeName: String?
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: Channel?
    private(set) var port: Int = 0
    let tls: NIOSSLContext?

    init(tls: NIOSSLContext? = nil) { self.tls = tls }

    var requests: [Request] { lock.withLock { _requests } }
    var scheme: String { tls == nil ? "http" : "https" }
    var server: String { "\(scheme)://127.0.0.1:\(port)" }

    func start(port wanted: Int = 0) throws {
        let tls = self.tls
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
        let ch = try bootstrap.bind(host: "127.0.0.1", port: wanted).wait()
        channel = ch
        port = ch.localAddress?.port ?? 0
    }

    /// Closes the listener and every connection (a restarted API server keeps its data and versions).
    func stop() {
        let open = lock.withLock { () -> [Channel] in
            defer { watchers = [:] }
            return watchers.values.map(\.channel)
        }
        for c in open { try? c.close().wait() }
        try? channel?.close().wait()
        channel = nil
    }

    func restart() throws {
        let p = port
        stop()
        try start(port: p)
    }

    func shutdown() {
        stop()
        try? group.syncShutdownGracefully()
    }

    // MARK: objects

    private func nextRV() -> Int { rv += 1; return rv }

    func addNamespace(_ name: String, uid: String) {
        lock.withLock {
            let v = nextRV()
            let o: [String: Any] = ["kind": "Namespace", "apiVersion": "v1",
                                    "metadata": ["name": name, "uid": uid, "resourceVersion": String(v)]]
            namespaces[uid] = o
            record(Event(rv: v, type: "ADDED", kind: "namespaces", object: o))
        }
    }

    func putPod(uid: String, name: String, namespace: String = "default", node: String = "node-1",
                labels: [String: String] = [:], annotations: [String: String] = [:], ip: String? = nil,
                owner: String? = "ReplicaSet", containerIDs: [String] = []) {
        lock.withLock {
            let v = nextRV()
            var meta: [String: Any] = ["name": name, "namespace": namespace, "uid": uid, "resourceVersion": String(v),
                                       "labels": labels, "annotations": annotations,
                                       "creationTimestamp": "2026-12-02T10:00:00Z"]
            if let owner {
                meta["ownerReferences"] = [["apiVersion": "apps/v1", "kind": owner, "name": name + "-owner",
                                            "uid": "owner-" + uid, "controller": true]]
            }
            var status: [String: Any] = ["phase": "Running"]
            if let ip { status["podIP"] = ip; status["podIPs"] = [["ip": ip]] }
            status["containerStatuses"] = containerIDs.map { ["name": "c", "containerID": "containerd://" + $0, "ready": true] }
            let o: [String: Any] = ["kind": "Pod", "apiVersion": "v1", "metadata": meta,
                                    "spec": ["nodeName": node, "containers": [["name": "c", "image": "busybox"]]],
                                    "status": status]
            let existed = pods[uid] != nil
            pods[uid] = o
            record(Event(rv: v, type: existed ? "MODIFIED" : "ADDED", kind: "pods", object: o))
        }
    }

    func deletePod(uid: String) {
        lock.withLock {
            guard var o = pods.removeValue(forKey: uid) else { return }
            let v = nextRV()
            var meta = o["metadata"] as? [String: Any] ?? [:]
            meta["resourceVersion"] = String(v)
            o["metadata"] = meta
            record(Event(rv: v, type: "DELETED", kind: "pods", object: o))
        }
    }

    /// Forgets the history below the current version: a watch from an older version gets 410.
    func compact() {
        lock.withLock {
            compactedBelow = rv
            log.removeAll()
        }
    }

    /// Changes a pod without telling anyone (as if the change happened while the client was away and
    /// the history was compacted): only a relist can see it.
    func silentlyDeletePod(uid: String) {
        lock.withLock {
            pods[uid] = nil
            rv += 1
            compactedBelow = rv
            log.removeAll()
        }
    }

    /// Cuts every open watch connection.
    func dropWatches() {
        let open = lock.withLock { () -> [Channel] in
            defer { watchers = [:] }
            return watchers.values.map(\.channel)
        }
        for c in open { c.close(promise: nil) }
    }

    /// Sends a BOOKMARK with the current version to every watcher.
    func bookmark() {
        lock.withLock {
            for w in watchers.values {
                let o: [String: Any] = ["kind": w.kind == "pods" ? "Pod" : "Namespace", "apiVersion": "v1",
                                        "metadata": ["resourceVersion": String(rv)]]
                send(w.channel, line(["type": "BOOKMARK", "object": o]))
            }
        }
    }

    var watcherCount: Int { lock.withLock { watchers.count } }
    var currentRV: Int { lock.withLock { rv } }

    // MARK: internals (lock held)

    private func record(_ e: Event) {
        log.append(e)
        for w in watchers.values where w.kind == e.kind && matches(e.object, node: w.nodeName) {
            send(w.channel, line(["type": e.type, "object": e.object]))
        }
    }

    private func matches(_ o: [String: Any], node: String?) -> Bool {
        guard let node else { return true }
        return ((o["spec"] as? [String: Any])?["nodeName"] as? String) == node
    }

    private func line(_ o: [String: Any]) -> [UInt8] {
        var bytes = [UInt8]((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data())
        bytes.append(0x0A)
        return bytes
    }

    private func send(_ channel: Channel, _ bytes: [UInt8]) {
        let parts = max(1, splitEventsInto)
        let size = max(1, (bytes.count + parts - 1) / parts)
        var chunks: [[UInt8]] = []
        var i = 0
        while i < bytes.count { chunks.append(Array(bytes[i..<min(i + size, bytes.count)])); i += size }
        channel.eventLoop.execute {
            for c in chunks {
                channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: c))), promise: nil)
            }
        }
    }

    fileprivate enum Reply {
        case full(HTTPResponseStatus, [UInt8])
        case watch(kind: String, node: String?, backlog: [[UInt8]])
        case watchExpired([UInt8])
    }

    fileprivate func handle(_ head: HTTPRequestHead) -> Reply {
        let url = URLComponents(string: head.uri)
        let path = url?.path ?? head.uri
        var query: [String: String] = [:]
        for item in url?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let auth = head.headers.first(name: "Authorization")
        return lock.withLock {
            _requests.append(Request(path: path, query: query, authorization: auth))
            if let token, auth != "Bearer \(token)" {
                return .full(.unauthorized, status(401, "Unauthorized", "Unauthorized"))
            }
            let kind: String
            switch path {
            case "/api/v1/pods": kind = "pods"
            case "/api/v1/namespaces": kind = "namespaces"
            default: return .full(.notFound, status(404, "NotFound", "the server could not find the requested resource"))
            }
            var node: String?
            if let fs = query["fieldSelector"] {
                guard fs.hasPrefix("spec.nodeName="), kind == "pods" else {
                    return .full(.badRequest, status(400, "BadRequest", "field label not supported: \(fs)"))
                }
                node = String(fs.dropFirst("spec.nodeName=".count))
            }
            if query["watch"] == "1" || query["watch"] == "true" {
                let from = Int(query["resourceVersion"] ?? "") ?? 0
                if from < compactedBelow {
                    return .watchExpired(line(["type": "ERROR", "object": [
                        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
                        "message": "too old resource version: \(from) (\(compactedBelow))"]]))
                }
                let backlog = log.filter { $0.rv > from && $0.kind == kind && matches($0.object, node: node) }
                    .map { line(["type": $0.type, "object": $0.object]) }
                return .watch(kind: kind, node: node, backlog: backlog)
            }
            let all = (kind == "pods" ? Array(pods.values) : Array(namespaces.values))
                .filter { matches($0, node: node) }
                .sorted { (($0["metadata"] as? [String: Any])?["uid"] as? String ?? "") < (($1["metadata"] as? [String: Any])?["uid"] as? String ?? "") }
            let limit = Int(query["limit"] ?? "") ?? all.count
            let offset = Int(query["continue"] ?? "") ?? 0
            let page = Array(all.dropFirst(offset).prefix(max(1, limit)))
            var meta: [String: Any] = ["resourceVersion": String(rv)]
            if offset + page.count < all.count { meta["continue"] = String(offset + page.count) }
            let list: [String: Any] = ["kind": kind == "pods" ? "PodList" : "NamespaceList", "apiVersion": "v1",
                                       "metadata": meta, "items": page]
            return .full(.ok, [UInt8]((try? JSONSerialization.data(withJSONObject: list)) ?? Data()))
        }
    }

    fileprivate func register(_ channel: Channel, kind: String, node: String?) {
        lock.withLock { watchers[ObjectIdentifier(channel)] = Watcher(channel: channel, kind: kind, nodeName: node) }
    }

    fileprivate func unregister(_ channel: Channel) {
        lock.withLock { _ = watchers.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    private func status(_ code: Int, _ reason: String, _ message: String) -> [UInt8] {
        let o: [String: Any] = ["kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                                "reason": reason, "message": message]
        return [UInt8]((try? JSONSerialization.data(withJSONObject: o)) ?? Data())
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: FakeAPIServer
        init(server: FakeAPIServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            switch server.handle(head) {
            case .full(let status, let body):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(body.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .watchExpired(let line):
                // As the API server does: 200, then one ERROR event carrying Status 410, then the end.
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Transfer-Encoding", value: "chunked")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: line)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .watch(let kind, let node, let backlog):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Transfer-Encoding", value: "chunked")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
                for l in backlog { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: l)))), promise: nil) }
                context.flush()
                server.register(context.channel, kind: kind, node: node)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            server.unregister(context.channel)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl for one test.
struct TestPKI {
    let directory: String
    var caPEM: [UInt8] { read("ca.crt") }
    var serverCert: String { directory + "/server.crt" }
    var serverKey: String { directory + "/server.key" }
    var clientCert: String { directory + "/client.crt" }
    var clientKey: String { directory + "/client.key" }

    init() throws {
        directory = NSTemporaryDirectory() + "defend-pki-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=defend-test-ca"])
        for (name, cn, ext) in [("server", "127.0.0.1", true), ("client", "system:node:node-1", false)] {
            try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(cn)"])
            var args = ["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                        "-out", "\(name).crt", "-days", "2"]
            if ext { args += ["-extfile", "san.ext"] }
            try run(args)
        }
    }

    func read(_ name: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: directory + "/" + name) ?? Data()) }

    func serverContext(requireClientCertificate: Bool) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(serverCert).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: serverKey, format: .pem)))
        if requireClientCertificate {
            config.certificateVerification = .noHostnameVerification
            config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(directory + "/ca.crt"))
        }
        return try NIOSSLContext(configuration: config)
    }

    private func run(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw NSError(domain: "openssl \(args.joined(separator: " "))", code: Int(p.terminationStatus)) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
