import DefendConfig

/// `output.elasticsearch` of the configuration file.
public struct ElasticsearchSettings: Sendable {
    /// `https://host:9200` (a path prefix is allowed: `https://proxy/es`); tried in order, with failover.
    public var hosts: [String] = []
    /// `id:key` (as Beats takes it; sent as `ApiKey base64(id:key)`), or the already encoded form.
    public var apiKey: Secret?
    public var username: String?
    public var password: Secret?
    /// Sent as `Authorization: Bearer <token>` (service tokens).
    public var bearerToken: Secret?
    public var tls = TLSSettings()
    /// Documents per bulk request.
    public var bulkMaxSize = 1600
    /// Uncompressed bytes per bulk request (Elasticsearch's `http.max_content_length` counts these).
    public var bulkMaxBytes: Int64 = 5 << 20
    /// A partial batch is sent after this many seconds.
    public var flushInterval: Double = 1
    /// gzip level 1-9; 0 sends uncompressed.
    public var compressionLevel = 1
    /// Per request.
    public var timeout: Double = 90
    /// Exponential backoff with jitter between these (seconds); `Retry-After` is honoured up to `backoffMax`.
    public var backoffInit: Double = 1
    public var backoffMax: Double = 60
    /// Documents Elasticsearch refuses for their content (400: mapping errors...) are appended here
    /// with the error; default `<queue.path>/dead-letter.ndjson`.
    public var deadLetterPath: String?

    public init() {}

    /// The `Authorization` header value (nil: none). Never logged.
    func authorization() -> String? {
        if let key = apiKey?.reveal() {
            // `id:key` is encoded; a value without ':' is taken as already encoded.
            let encoded = key.contains(":") ? Base64.encode(Array(key.utf8)) : key
            return "ApiKey " + encoded
        }
        if let token = bearerToken?.reveal() { return "Bearer " + token }
        if let user = username {
            return "Basic " + Base64.encode(Array((user + ":" + (password?.reveal() ?? "")).utf8))
        }
        return nil
    }

    /// nil if usable, else why not.
    public func problem() -> String? {
        if hosts.isEmpty { return "output.elasticsearch.hosts: at least one host is required" }
        for h in hosts where !(h.hasPrefix("http://") || h.hasPrefix("https://")) {
            return "output.elasticsearch.hosts: '\(h)' must start with http:// or https://"
        }
        let auths = [apiKey != nil, bearerToken != nil, username != nil].filter { $0 }.count
        if auths > 1 { return "output.elasticsearch: give only one of api_key, bearer_token and username/password" }
        if password != nil && username == nil { return "output.elasticsearch.password needs username" }
        if (tls.certificate == nil) != (tls.key == nil) {
            return "output.elasticsearch.ssl: certificate and key go together"
        }
        return nil
    }
}

public struct TLSSettings: Sendable {
    public enum VerificationMode: String, Sendable, CaseIterable {
        /// Chain and host name.
        case full
        /// Chain only.
        case certificate
        /// Nothing (testing only; logged as a warning).
        case none
    }
    /// PEM files of the CAs to trust instead of the system's.
    public var certificateAuthorities: [String] = []
    public var verificationMode: VerificationMode = .full
    /// Client certificate and key (PEM).
    public var certificate: String?
    public var key: String?
    public var keyPassphrase: Secret?
    public init() {}
}

enum Base64 {
    private static let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for s in [18, 12, 6, 0] { out.append(table[Int(n >> UInt32(s) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(table[Int(n >> 18 & 63)]); out.append(table[Int(n >> 12 & 63)])
            out.append(rest == 2 ? table[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
