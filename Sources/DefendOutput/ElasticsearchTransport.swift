import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// One HTTP response, or why there was none.
public enum HTTPResult: Sendable {
    case response(status: Int, headers: [(String, String)], body: [UInt8])
    case failure(String)

    public func header(_ name: String) -> String? {
        guard case .response(_, let headers, _) = self else { return nil }
        return headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Blocking requests to a list of Elasticsearch hosts over kept-alive connections (AsyncHTTPClient,
/// HTTP/1.1), with failover: a host that fails to answer is left for the next one. TLS verifies by
/// default. Called from one thread at a time (the sender, or `defend setup`).
public final class ElasticsearchTransport: @unchecked Sendable {
    public let hosts: [String]
    private let client: HTTPClient
    private let authorization: String?
    private let timeout: Double
    private var current = 0

    public init(settings: ElasticsearchSettings) throws(SinkError) {
        if let p = settings.problem() { throw .invalidSetting(p) }
        hosts = settings.hosts.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        authorization = settings.authorization()
        timeout = settings.timeout
        var config = HTTPClient.Configuration(
            tlsConfiguration: try Self.tls(settings.tls),
            timeout: .init(connect: .milliseconds(Int64(min(settings.timeout, 10) * 1000)),
                           read: .milliseconds(Int64(settings.timeout * 1000))),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 2),
            decompression: .enabled(limit: .ratio(100)))
        config.httpVersion = .http1Only
        config.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    static func tls(_ s: TLSSettings) throws(SinkError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if !s.certificateAuthorities.isEmpty {
                var roots: [NIOSSLCertificate] = []
                for path in s.certificateAuthorities { roots += try NIOSSLCertificate.fromPEMFile(path) }
                tls.trustRoots = .certificates(roots)
            }
            switch s.verificationMode {
            case .full: tls.certificateVerification = .fullVerification
            case .certificate: tls.certificateVerification = .noHostnameVerification
            case .none: tls.certificateVerification = .none
            }
            if let cert = s.certificate, let key = s.key {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                if let pass = s.keyPassphrase {
                    let bytes = Array(pass.reveal().utf8)
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem) { $0(bytes) })
                } else {
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            }
        } catch {
            throw .invalidSetting("output.elasticsearch.ssl: \(error)")
        }
        return tls
    }

    public var currentHost: String { hosts[current] }

    /// Sends one request to the current host; on a connection failure, the next host is current
    /// for the following request. `path` starts with "/".
    public func request(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/json",
                        gzip: Bool = false, timeout: Double? = nil) -> HTTPResult {
        request(method, path, buffer: body.map { ByteBuffer(bytes: $0) }, contentType: contentType, gzip: gzip, timeout: timeout)
    }

    /// The same with the body already in a `ByteBuffer` (the bulk body is built in one, not copied).
    public func request(_ method: HTTPMethod, _ path: String, buffer body: ByteBuffer?, contentType: String = "application/json",
                        gzip: Bool = false, timeout: Double? = nil) -> HTTPResult {
        let host = hosts[current]
        var headers = HTTPHeaders()
        if let auth = authorization { headers.add(name: "Authorization", value: auth) }
        headers.add(name: "Accept", value: "application/json")
        if body != nil {
            headers.add(name: "Content-Type", value: contentType)
            if gzip { headers.add(name: "Content-Encoding", value: "gzip") }
        }
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: host + path, method: method, headers: headers,
                                             body: body.map { .byteBuffer($0) })
        } catch {
            return .failure("invalid URL \(host)\(path)")
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64((timeout ?? self.timeout) * 1000))
        do {
            let response = try client.execute(request: request, deadline: deadline).wait()
            let bytes = response.body.map { Array($0.readableBytesView) } ?? []
            let headers = response.headers.map { ($0.name, $0.value) }
            return .response(status: Int(response.status.code), headers: headers, body: bytes)
        } catch {
            current = (current + 1) % hosts.count
            return .failure("\(host): \(Self.describe(error))")
        }
    }

    /// The next host becomes current (after a 5xx from this one).
    public func failover() { current = (current + 1) % hosts.count }

    private static func describe(_ error: Error) -> String {
        if let e = error as? HTTPClientError { return "\(e)" }
        return "\(error)"
    }

    public func shutdown() {
        try? client.syncShutdown()
    }
}
