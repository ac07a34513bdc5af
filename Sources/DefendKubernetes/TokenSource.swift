import Foundation
import Synchronization

/// The bearer token, fixed or read from a file. A file token is re-read when it is older than
/// `refreshInterval` (the kubelet rotates projected service-account tokens well before they expire)
/// and at once after the server answered 401 (`invalidate`).
public final class TokenSource: Sendable {
    private enum Kind { case fixed(String), file(String) }
    private let kind: Kind
    public let refreshInterval: Duration
    private struct Cached { var token: String; var readAt: ContinuousClock.Instant }
    private let cached = Mutex<Cached?>(nil)
    /// Times the file was read (for tests and diagnostics).
    private let reads = Atomic<Int>(0)

    public init(fixed token: String) {
        kind = .fixed(token)
        refreshInterval = .seconds(60)
    }

    public init(file path: String, refreshInterval: Duration = .seconds(60)) {
        kind = .file(path)
        self.refreshInterval = refreshInterval
    }

    public var fileReads: Int { reads.load(ordering: .relaxed) }

    public func current() throws(KubernetesConfigurationError) -> String {
        switch kind {
        case .fixed(let token):
            return token
        case .file(let path):
            let now = ContinuousClock.now
            if let c = cached.withLock({ $0 }), now - c.readAt < refreshInterval { return c.token }
            let bytes = try KubernetesClientConfiguration.readFile(path, field: "bearer token", limit: 64 << 10)
            reads.add(1, ordering: .relaxed)
            let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw .emptyToken(path: path) }
            cached.withLock { $0 = Cached(token: token, readAt: now) }
            return token
        }
    }

    /// The server refused the token: the next `current()` reads the file again.
    public func invalidate() {
        cached.withLock { $0 = nil }
    }

    public var isFile: Bool {
        if case .file = kind { return true }
        return false
    }
}
