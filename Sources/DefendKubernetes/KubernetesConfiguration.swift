import Foundation
import Yams

/// Where the API server is and how to authenticate to it: from the pod's service account (in-cluster)
/// or from a kubeconfig file. Certificates and keys are kept as PEM bytes; the bearer token is read
/// through a `TokenSource` so a rotated service-account token is picked up.
public struct KubernetesClientConfiguration: Sendable {
    /// `https://host:port` (or `http://` for tests), without a trailing slash.
    public var server: String
    /// PEM of the CA bundle that signs the server's certificate; nil = the system trust store.
    public var certificateAuthorityPEM: [UInt8]?
    /// PEM of a client certificate (chain) and its key, for client-certificate authentication.
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    public var token: TokenSource?
    /// kubeconfig `insecure-skip-tls-verify` (no certificate verification at all).
    public var insecureSkipTLSVerify = false
    /// Where it came from, for log lines ("in-cluster", "kubeconfig /path (context x)").
    public var origin: String

    public init(server: String, certificateAuthorityPEM: [UInt8]? = nil, clientCertificatePEM: [UInt8]? = nil,
                clientKeyPEM: [UInt8]? = nil, token: TokenSource? = nil, insecureSkipTLSVerify: Bool = false,
                origin: String) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.token = token
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.origin = origin
    }

    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// In-cluster: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, the service account's
    /// `token` (re-read as it rotates) and `ca.crt`.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 serviceAccountDirectory: String = serviceAccountDirectory)
        throws(KubernetesConfigurationError) -> KubernetesClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw .notInCluster("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        }
        guard let portNumber = UInt16(port) else {
            throw .invalid(file: "environment", field: "KUBERNETES_SERVICE_PORT", reason: "not a port number: \(port)")
        }
        let tokenPath = serviceAccountDirectory + "/token"
        let caPath = serviceAccountDirectory + "/ca.crt"
        let token = TokenSource(file: tokenPath)
        do { _ = try token.current() } catch { throw error }
        let ca = try readFile(caPath, field: "service account CA")
        // IPv6 service addresses need brackets in a URL.
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return KubernetesClientConfiguration(server: "https://\(hostPart):\(portNumber)", certificateAuthorityPEM: ca,
                                             token: token, origin: "in-cluster service account")
    }

    /// A kubeconfig file: the current context (or `context`), its cluster's `server`,
    /// `certificate-authority[-data]`, `insecure-skip-tls-verify`, and its user's `token`, `tokenFile`,
    /// `client-certificate[-data]`, `client-key[-data]`. `*-data` wins over a path; `tokenFile` (re-read as
    /// it rotates) wins over `token`. Relative paths resolve against the file's directory. `exec` and
    /// `auth-provider` plugins are refused with a clear error.
    public static func kubeconfig(path: String, context wanted: String? = nil)
        throws(KubernetesConfigurationError) -> KubernetesClientConfiguration {
        let bytes = try readFile(path, field: "kubeconfig")
        let text = String(decoding: bytes, as: UTF8.self)
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw .invalid(file: path, field: "(document)", reason: "not YAML: \(error)")
        }
        guard let doc = root as? [String: Any] else {
            throw .invalid(file: path, field: "(document)", reason: "not a mapping")
        }
        let directory = (path as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") || directory.isEmpty ? p : directory + "/" + p
        }
        func named(_ list: String, _ name: String, _ inner: String) throws(KubernetesConfigurationError) -> [String: Any] {
            guard let entries = doc[list] as? [Any] else {
                throw .invalid(file: path, field: list, reason: "missing or not a list")
            }
            for case let e as [String: Any] in entries where e["name"] as? String == name {
                guard let body = e[inner] as? [String: Any] else {
                    throw .invalid(file: path, field: "\(list)[\(name)].\(inner)", reason: "missing or not a mapping")
                }
                return body
            }
            throw .invalid(file: path, field: list, reason: "no entry named \"\(name)\"")
        }
        guard let contextName = wanted ?? (doc["current-context"] as? String), !contextName.isEmpty else {
            throw .invalid(file: path, field: "current-context", reason: "not set and no context given")
        }
        let context = try named("contexts", contextName, "context")
        guard let clusterName = context["cluster"] as? String else {
            throw .invalid(file: path, field: "contexts[\(contextName)].context.cluster", reason: "missing")
        }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"] as? String, !server.isEmpty else {
            throw .invalid(file: path, field: "clusters[\(clusterName)].cluster.server", reason: "missing")
        }
        guard server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw .invalid(file: path, field: "clusters[\(clusterName)].cluster.server",
                           reason: "not an http(s) URL: \(server)")
        }
        if cluster["tls-server-name"] != nil {
            throw .invalid(file: path, field: "clusters[\(clusterName)].cluster.tls-server-name",
                           reason: "not supported; use a server URL whose host name is in the certificate")
        }
        func pem(_ body: [String: Any], _ key: String, _ where_: String) throws(KubernetesConfigurationError) -> [UInt8]? {
            if let data = body[key + "-data"] as? String {
                guard let decoded = Data(base64Encoded: data.filter { !$0.isWhitespace }) else {
                    throw .invalid(file: path, field: "\(where_).\(key)-data", reason: "not base64")
                }
                return [UInt8](decoded)
            }
            if let file = body[key] as? String { return try readFile(resolve(file), field: "\(where_).\(key)") }
            return nil
        }
        let clusterWhere = "clusters[\(clusterName)].cluster"
        var config = KubernetesClientConfiguration(server: server, origin: "kubeconfig \(path) (context \(contextName))")
        config.certificateAuthorityPEM = try pem(cluster, "certificate-authority", clusterWhere)
        config.insecureSkipTLSVerify = cluster["insecure-skip-tls-verify"] as? Bool ?? false
        if let userName = context["user"] as? String {
            let user = try named("users", userName, "user")
            let userWhere = "users[\(userName)].user"
            for unsupported in ["exec", "auth-provider", "username", "password"] where user[unsupported] != nil {
                throw .invalid(file: path, field: "\(userWhere).\(unsupported)",
                               reason: "not supported; use token, tokenFile or a client certificate")
            }
            config.clientCertificatePEM = try pem(user, "client-certificate", userWhere)
            config.clientKeyPEM = try pem(user, "client-key", userWhere)
            if (config.clientCertificatePEM == nil) != (config.clientKeyPEM == nil) {
                throw .invalid(file: path, field: userWhere, reason: "client-certificate and client-key go together")
            }
            if let file = user["tokenFile"] as? String {
                let source = TokenSource(file: resolve(file))
                _ = try source.current()
                config.token = source
            } else if let token = user["token"] as? String {
                config.token = TokenSource(fixed: token)
            }
        }
        return config
    }

    static func readFile(_ path: String, field: String, limit: Int = 4 << 20) throws(KubernetesConfigurationError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .unreadable(path: path, field: field) }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.read(upToCount: limit + 1) ?? Data() } catch { throw .unreadable(path: path, field: field) }
        guard data.count <= limit else {
            throw .invalid(file: path, field: field, reason: "larger than \(limit) bytes")
        }
        return [UInt8](data)
    }
}

public enum KubernetesConfigurationError: Error, CustomStringConvertible, Equatable {
    case notInCluster(String)
    case unreadable(path: String, field: String)
    case invalid(file: String, field: String, reason: String)
    case emptyToken(path: String)

    public var description: String {
        switch self {
        case .notInCluster(let why): return "not running in a Kubernetes pod: \(why) (give --kubeconfig FILE)"
        case .unreadable(let path, let field): return "\(path): cannot read (\(field))"
        case .invalid(let file, let field, let reason): return "\(file): \(field): \(reason)"
        case .emptyToken(let path): return "\(path): the bearer token file is empty"
        }
    }
}
