import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

public enum KubernetesAPIError: Error, CustomStringConvertible, Sendable {
    /// Connection refused/reset, TLS failure, timeout...
    case transport(String)
    /// A non-2xx answer, with the `Status` reason and message when the body had one.
    case status(code: Int, reason: String, message: String)
    case decode(String)
    case configuration(KubernetesConfigurationError)
    case bodyTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .transport(let s): return "API server unreachable: \(s)"
        case .status(let code, let reason, let message):
            return "API server answered \(code)" + (reason.isEmpty ? "" : " \(reason)") + (message.isEmpty ? "" : ": \(message)")
        case .decode(let s): return "unexpected API object: \(s)"
        case .configuration(let e): return e.description
        case .bodyTooLarge(let limit): return "API response larger than \(limit) bytes"
        }
    }

    /// 410 Gone / reason Expired: the resource version is too old; list again.
    public var isExpired: Bool {
        if case .status(let code, let reason, _) = self { return code == 410 || reason == "Expired" || reason == "Gone" }
        return false
    }
}

/// HTTP(S) to the API server: GET with a bounded body, and watch streams read line by line. Bearer
/// tokens come from the configuration's `TokenSource`; a 401 re-reads a file token and retries once.
public final class KubernetesAPI: Sendable {
    public let configuration: KubernetesClientConfiguration
    private let client: HTTPClient
    /// Bound on a list page or any non-watch body.
    public let maxBodyBytes: Int
    /// Bound on one watch event line.
    public let maxEventBytes: Int

    public init(configuration: KubernetesClientConfiguration, maxBodyBytes: Int = 64 << 20,
                maxEventBytes: Int = 4 << 20) throws(KubernetesAPIError) {
        self.configuration = configuration
        self.maxBodyBytes = maxBodyBytes
        self.maxEventBytes = maxEventBytes
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = configuration.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            }
            if let cert = configuration.clientCertificatePEM, let key = configuration.clientKeyPEM {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(cert).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            }
        } catch {
            throw .configuration(.invalid(file: configuration.origin, field: "certificates", reason: "\(error)"))
        }
        if configuration.insecureSkipTLSVerify { tls.certificateVerification = .none }
        var http = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow,
                                            timeout: .init(connect: .seconds(10), read: nil),
                                            ignoreUncleanSSLShutdown: false)
        http.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// GET `pathAndQuery` (absolute path with query); the 2xx body, else `.status`.
    public func get(_ pathAndQuery: String, timeout: TimeAmount = .seconds(60)) async throws(KubernetesAPIError) -> [UInt8] {
        let response = try await send(pathAndQuery, timeout: timeout)
        var body: [UInt8] = []
        do {
            for try await chunk in response.body {
                guard body.count + chunk.readableBytes <= maxBodyBytes else { throw KubernetesAPIError.bodyTooLarge(limit: maxBodyBytes) }
                body.append(contentsOf: chunk.readableBytesView)
            }
        } catch let e as KubernetesAPIError {
            throw e
        } catch {
            throw .transport("\(error)")
        }
        return body
    }

    /// Opens a watch and hands each event line to `onLine` until the server ends the stream (normal
    /// end: returns) or an error. The partial line at a cut is discarded (an event is never half-applied).
    public func watch(_ pathAndQuery: String, timeout: TimeAmount,
                      onLine: (ArraySlice<UInt8>) throws -> Void) async throws {
        let response = try await send(pathAndQuery, timeout: timeout)
        var splitter = LineSplitter(maxLineBytes: maxEventBytes)
        do {
            for try await chunk in response.body {
                try splitter.feed(chunk.readableBytesView, line: onLine)
            }
        } catch let e as LineSplitter.LineTooLong {
            throw KubernetesAPIError.decode(e.description)
        } catch let e as KubernetesAPIError {
            throw e
        } catch let e as WatchStreamError {
            throw e
        } catch {
            if error is CancellationError { throw error }
            throw KubernetesAPIError.transport("watch stream: \(error)")
        }
    }

    private func send(_ pathAndQuery: String, timeout: TimeAmount) async throws(KubernetesAPIError) -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: configuration.server + pathAndQuery)
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "User-Agent", value: "defend")
            if let token = configuration.token {
                do { request.headers.add(name: "Authorization", value: "Bearer " + (try token.current())) } catch {
                    throw .configuration(error)
                }
            }
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: timeout)
            } catch {
                throw .transport("\(configuration.server): \(error)")
            }
            if response.status.code / 100 == 2 { return response }
            // Error bodies are small Status objects.
            var body: [UInt8] = []
            do {
                for try await chunk in response.body where body.count < 64 << 10 { body.append(contentsOf: chunk.readableBytesView) }
            } catch {}
            let status = try? JSONDecoder().decode(WireStatus.self, from: Data(body))
            let code = Int(response.status.code)
            if code == 401, attempt == 1, let token = configuration.token, token.isFile {
                token.invalidate()  // a rotated token: read it again and retry once
                continue
            }
            throw .status(code: code, reason: status?.reason ?? response.status.reasonPhrase,
                          message: status?.message ?? "")
        }
    }
}

/// A watch ended for a reason the reflector handles (an ERROR event).
struct WatchStreamError: Error {
    let status: KubernetesAPIError
}
