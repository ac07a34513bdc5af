import DefendOutput
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A local HTTP(S) server that behaves as Elasticsearch documents its APIs, for delivery tests (no real
/// Elasticsearch can run here). `_bulk`: NDJSON with a final newline (else 400), per-item statuses with
/// `errors: true` on mixed results; data streams (`logs-*-*`, `metrics-*-*`) take only `create`
/// (`index` is refused per item with 400) and need `@timestamp` (400); a second `create` with an `_id`
/// already in the stream is 409. Faults are injected per request (429 with Retry-After, 503, 413 over a
/// size, dropped connections, slow answers) or per item. Authentication: ApiKey, Basic or Bearer.
/// `GET /` answers with a version and `X-Elastic-Product: Elasticsearch`; index templates, ingest
/// pipelines, ILM policies and component templates are stored by PUT and returned by GET.
final class StandInElasticsearch: @unchecked Sendable {
    enum Auth { case none, apiKey(String), basic(String, String), bearer(String) }

    /// What to do with the next bulk request.
    enum Fault {
        case status(Int, retryAfter: String? = nil)
        case dropConnection
        /// Answers after this many seconds (the work is done: a client that gave up sees 409s on retry).
        case delay(Double)
    }

    struct StoredDocument {
        let stream: String
        let id: String
        let source: [String: Any]
        let sequence: Int
    }

    private let lock = NSLock()
    private var group: MultiThreadedEventLoopGroup?
    private var channel: Channel?
    private(set) var port: Int = 0
    let tls: (cert: String, key: String)?
    var auth: Auth = .none
    var version = "8.15.0"
    /// Refuse bulk bodies larger than this (uncompressed) with 413, as `http.max_content_length` does.
    var maxContentLength = 100 << 20

    // Guarded by lock.
    private var faults: [Fault] = []
    private var streams: [String: [String: StoredDocument]] = [:]
    private var order: [StoredDocument] = []
    private(set) var bulkRequests = 0
    private(set) var gzipRequests = 0
    private(set) var itemStatuses: [Int: Int] = [:]
    private var resources: [String: [UInt8]] = [:]
    private(set) var requestLog: [String] = []
    /// Per item: a status to answer instead of storing (nil: store). Called under the lock.
    var itemFault: ((_ stream: String, _ id: String, _ source: [String: Any]) -> Int?)?

    init(tls: (cert: String, key: String)? = nil) { self.tls = tls }

    func start(port: Int = 0) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sslContext = try tls.map { t in
            try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(t.cert).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: t.key, format: .pem))))
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
        let channel = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
        self.group = group
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    /// Closes the listening socket and every connection (an outage); `start(port:)` again to return.
    func stop() {
        try? channel?.close().wait()
        try? group?.syncShutdownGracefully()
        channel = nil
        group = nil
    }

    var url: String { (tls == nil ? "http" : "https") + "://127.0.0.1:\(port)" }

    func inject(_ fs: [Fault]) { lock.withLock { faults += fs } }

    var documents: [StoredDocument] { lock.withLock { order } }
    var documentCount: Int { lock.withLock { order.count } }
    func resource(_ path: String) -> [UInt8]? { lock.withLock { resources[path] } }
    var log: [String] { lock.withLock { requestLog } }

    // MARK: request handling

    struct Request {
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    struct Response {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var drop = false
        var delay: Double = 0
    }

    func handle(_ request: Request) -> Response {
        lock.lock()
        defer { lock.unlock() }
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "")
        requestLog.append("\(request.method.rawValue) \(path)")
        guard authorized(request.headers) else {
            return json(401, ["error": ["type": "security_exception", "reason": "missing authentication credentials"], "status": 401],
                        extra: [("WWW-Authenticate", "ApiKey")])
        }
        if path == "/_bulk" && request.method == .POST { return bulk(request) }
        if path == "/" && request.method == .GET {
            return json(200, ["name": "stand-in", "cluster_name": "defend-test", "version": ["number": version],
                              "tagline": "You Know, for Search"])
        }
        if path.hasPrefix("/_index_template/") || path.hasPrefix("/_ingest/pipeline/") || path.hasPrefix("/_ilm/policy/")
            || path.hasPrefix("/_component_template/") {
            switch request.method {
            case .PUT:
                guard (try? JSONSerialization.jsonObject(with: Data(request.body))) != nil else {
                    return json(400, ["error": ["type": "parse_exception", "reason": "request body is required"], "status": 400])
                }
                resources[path] = request.body
                return json(200, ["acknowledged": true])
            case .GET:
                guard let body = resources[path] else { return json(404, ["error": ["type": "resource_not_found_exception"], "status": 404]) }
                let name = String(path.split(separator: "/").last ?? "")
                let object = (try? JSONSerialization.jsonObject(with: Data(body))) ?? [:]
                if path.hasPrefix("/_index_template/") {
                    return json(200, ["index_templates": [["name": name, "index_template": object]]])
                }
                if path.hasPrefix("/_ilm/policy/") { return json(200, [name: ["version": 1, "policy": (object as? [String: Any])?["policy"] ?? [:]]]) }
                if path.hasPrefix("/_component_template/") {
                    return json(200, ["component_templates": [["name": name, "component_template": object]]])
                }
                return json(200, [name: object])
            default: break
            }
        }
        return json(404, ["error": ["type": "no_handler_found"], "status": 404])
    }

    private func authorized(_ headers: HTTPHeaders) -> Bool {
        let given = headers["Authorization"].first ?? ""
        switch auth {
        case .none: return true
        case .apiKey(let idKey):
            // `ApiKey base64(id:key)`; the scheme is case-insensitive.
            let parts = given.split(separator: " ", maxSplits: 1)
            return parts.count == 2 && parts[0].lowercased() == "apikey"
                && parts[1] == Data(idKey.utf8).base64EncodedString()
        case let .basic(user, password):
            return given == "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        case .bearer(let token):
            return given == "Bearer " + token
        }
    }

    private func json(_ status: Int, _ object: Any, extra: [(String, String)] = []) -> Response {
        let body = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [("Content-Type", "application/json"), ("X-Elastic-Product", "Elasticsearch")] + extra,
                        body: [UInt8](body))
    }

    private func bulk(_ request: Request) -> Response {
        bulkRequests += 1
        var delay = 0.0
        if !faults.isEmpty {
            switch faults.removeFirst() {
            case let .status(code, retryAfter):
                var r = json(code, ["error": ["type": code == 429 ? "es_rejected_execution_exception" : "unavailable"], "status": code])
                if let retryAfter { r.headers.append(("Retry-After", retryAfter)) }
                return r
            case .dropConnection:
                return Response(status: 0, drop: true)
            case .delay(let s):
                delay = s
            }
        }
        var body = request.body
        if request.headers["Content-Encoding"].first == "gzip" {
            gzipRequests += 1
            guard let plain = Gunzip.decompress(body) else {
                return json(400, ["error": ["type": "parse_exception", "reason": "bad gzip"], "status": 400])
            }
            body = plain
        }
        if body.count > maxContentLength {
            return json(413, ["error": ["type": "request_entity_too_large"], "status": 413])
        }
        guard body.last == 0x0a else {
            return json(400, ["error": ["type": "illegal_argument_exception",
                                        "reason": "The bulk request must be terminated by a newline [\\n]"], "status": 400])
        }
        let lines = body.split(separator: 0x0a, omittingEmptySubsequences: false).dropLast()
        var items: [[String: Any]] = []
        var errors = false
        var i = lines.startIndex
        while i < lines.endIndex {
            guard let action = try? JSONSerialization.jsonObject(with: Data(lines[i])) as? [String: [String: Any]],
                  let (op, meta) = action.first, i + 1 < lines.endIndex else {
                return json(400, ["error": ["type": "illegal_argument_exception", "reason": "Malformed action/metadata line"], "status": 400])
            }
            let sourceLine = lines[i + 1]
            i += 2
            let index = meta["_index"] as? String ?? ""
            let id = meta["_id"] as? String ?? UUID().uuidString
            var item: [String: Any] = ["_index": index, "_id": id]
            func fail(_ status: Int, _ type: String, _ reason: String) {
                item["status"] = status
                item["error"] = ["type": type, "reason": reason]
                errors = true
            }
            let isDataStream = index.hasPrefix("logs-") || index.hasPrefix("metrics-")
            guard let source = try? JSONSerialization.jsonObject(with: Data(sourceLine)) as? [String: Any] else {
                fail(400, "document_parsing_exception", "failed to parse")
                items.append([op: item]); continue
            }
            if isDataStream && op != "create" {
                fail(400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams")
            } else if isDataStream && source["@timestamp"] == nil {
                fail(400, "document_parsing_exception", "data stream timestamp field [@timestamp] is missing")
            } else if let status = itemFault?(index, id, source) {
                fail(status, status == 429 ? "es_rejected_execution_exception" : "document_parsing_exception", "injected")
            } else if streams[index]?[id] != nil {
                fail(409, "version_conflict_engine_exception", "[\(id)]: version conflict, document already exists")
            } else {
                let doc = StoredDocument(stream: index, id: id, source: source, sequence: order.count)
                streams[index, default: [:]][id] = doc
                order.append(doc)
                item["status"] = 201
                item["result"] = "created"
            }
            itemStatuses[item["status"] as? Int ?? 0, default: 0] += 1
            items.append([op: item])
        }
        var r = json(200, ["took": 1, "errors": errors, "items": items])
        r.delay = delay
        return r
    }

    // MARK: NIO

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: StandInElasticsearch
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(server: StandInElasticsearch) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h; body = []
            case .body(var b): body += b.readBytes(length: b.readableBytes) ?? []
            case .end:
                guard let head else { return }
                let request = Request(method: head.method, uri: head.uri, headers: head.headers, body: body)
                let keepAlive = head.isKeepAlive
                let response = server.handle(request)
                if response.drop {
                    context.close(promise: nil)
                    return
                }
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let send = {
                    let (handler, context) = loopBound.value
                    var headers = HTTPHeaders(response.headers)
                    headers.add(name: "Content-Length", value: "\(response.body.count)")
                    if !keepAlive { headers.add(name: "Connection", value: "close") }
                    context.write(handler.wrapOutboundOut(.head(HTTPResponseHead(version: head.version,
                        status: HTTPResponseStatus(statusCode: response.status), headers: headers))), promise: nil)
                    context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in
                        if !keepAlive { context.close(promise: nil) }
                    }
                }
                if response.delay > 0 {
                    context.eventLoop.scheduleTask(in: .milliseconds(Int64(response.delay * 1000))) { send() }
                } else {
                    send()
                }
            }
        }
    }
}
