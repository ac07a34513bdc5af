import Foundation
import Synchronization
import Testing
@testable import DefendKubernetes

/// Collects what a watcher reports, thread-safe.
final class UpdateLog: Sendable {
    private let updates = Mutex<[KubernetesUpdate]>([])
    func append(_ u: KubernetesUpdate) { updates.withLock { $0.append(u) } }
    var all: [KubernetesUpdate] { updates.withLock { $0 } }
    func pods(_ uid: String) -> [PodMetadata] {
        all.compactMap { if case .pod(let p) = $0, p.uid == uid { return p }; return nil }
    }
    func deleted(_ uid: String) -> Bool { all.contains(.podDeleted(uid: uid)) }
}

/// Waits (at most `seconds`) for `condition`; the wait bounds a test, it measures nothing (a generous bound:
/// success returns at once, and a loaded CI machine is slow).
func eventually(_ seconds: Double = 60, _ condition: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

func fastTiming() -> ReflectorTiming {
    var t = ReflectorTiming()
    t.initialBackoff = .milliseconds(30)
    t.maxBackoff = .milliseconds(200)
    t.watchTimeoutSeconds = 60...60
    t.pageSize = 2
    return t
}

@Suite struct LineSplitterTests {
    @Test func eventsAcrossAndWithinChunks() throws {
        var s = LineSplitter(maxLineBytes: 64)
        var lines: [String] = []
        let stream = Array("{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}\n".utf8)
        for chunkSize in [1, 3, 7, stream.count] {
            lines = []
            var i = 0
            while i < stream.count {
                try s.feed(stream[i..<min(i + chunkSize, stream.count)]) { lines.append(String(decoding: $0, as: UTF8.self)) }
                i += chunkSize
            }
            #expect(lines == ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"], "chunk size \(chunkSize)")
            #expect(s.pendingBytes == 0)
        }
    }

    @Test func overlongLineIsAnError() {
        var s = LineSplitter(maxLineBytes: 8)
        #expect(throws: LineSplitter.LineTooLong.self) {
            try s.feed(Array("0123".utf8)) { _ in }
            try s.feed(Array("456789abc".utf8)) { _ in }
        }
    }
}

@Suite struct KubernetesConfigurationTests {
    let dir = NSTemporaryDirectory() + "defend-kcfg-" + UUID().uuidString.prefix(8)

    func write(_ name: String, _ text: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = dir + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    @Test func kubeconfigWithTokenFileAndRelativeCA() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try write("ca.pem", "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n")
        _ = try write("tok", "abc\n")
        let path = try write("config", """
            apiVersion: v1
            kind: Config
            current-context: prod
            clusters:
            - name: other
              cluster: {server: "https://10.0.0.9:6443"}
            - name: c1
              cluster:
                server: https://127.0.0.1:6443/
                certificate-authority: ca.pem
            users:
            - name: u1
              user:
                token: fixed-ignored
                tokenFile: tok
            contexts:
            - name: prod
              context: {cluster: c1, user: u1}
            """)
        let c = try KubernetesClientConfiguration.kubeconfig(path: path)
        #expect(c.server == "https://127.0.0.1:6443")
        #expect(String(decoding: c.certificateAuthorityPEM ?? [], as: UTF8.self).contains("BEGIN CERTIFICATE"))
        #expect(try c.token?.current() == "abc")
        #expect(c.token?.isFile == true)
    }

    @Test func kubeconfigClientCertificateData() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cert = Data("CERT".utf8).base64EncodedString(), key = Data("KEY".utf8).base64EncodedString()
        let path = try write("config", """
            current-context: x
            clusters: [{name: c, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
            users: [{name: u, user: {client-certificate-data: \(cert), client-key-data: \(key)}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            """)
        let c = try KubernetesClientConfiguration.kubeconfig(path: path)
        #expect(c.clientCertificatePEM == Array("CERT".utf8))
        #expect(c.clientKeyPEM == Array("KEY".utf8))
        #expect(c.insecureSkipTLSVerify)
        #expect(c.token == nil)
    }

    @Test func kubeconfigErrorsNameFileAndField() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let noServer = try write("a", "current-context: x\nclusters: [{name: c, cluster: {}}]\ncontexts: [{name: x, context: {cluster: c}}]\n")
        #expect(throws: KubernetesConfigurationError.invalid(file: noServer, field: "clusters[c].cluster.server", reason: "missing")) {
            try KubernetesClientConfiguration.kubeconfig(path: noServer)
        }
        let exec = try write("b", """
            current-context: x
            clusters: [{name: c, cluster: {server: "https://h:1"}}]
            users: [{name: u, user: {exec: {command: aws}}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            """)
        do {
            _ = try KubernetesClientConfiguration.kubeconfig(path: exec)
            Issue.record("exec plugins must be refused")
        } catch {
            #expect(error.description.contains("users[u].user.exec"))
            #expect(error.description.hasPrefix(exec))
        }
        let missingCA = try write("c", """
            current-context: x
            clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: /nonexistent/ca}}]
            contexts: [{name: x, context: {cluster: c}}]
            """)
        #expect(throws: KubernetesConfigurationError.unreadable(path: "/nonexistent/ca", field: "clusters[c].cluster.certificate-authority")) {
            try KubernetesClientConfiguration.kubeconfig(path: missingCA)
        }
    }

    @Test func inClusterFromServiceAccount() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try write("token", "sa-token")
        _ = try write("ca.crt", "PEM")
        let env = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        let c = try KubernetesClientConfiguration.inCluster(environment: env, serviceAccountDirectory: dir)
        #expect(c.server == "https://10.96.0.1:443")
        #expect(try c.token?.current() == "sa-token")
        #expect(c.certificateAuthorityPEM == Array("PEM".utf8))
        let v6 = try KubernetesClientConfiguration.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1",
                                                                           "KUBERNETES_SERVICE_PORT": "6443"],
                                                             serviceAccountDirectory: dir)
        #expect(v6.server == "https://[fd00::1]:6443")
        #expect(throws: KubernetesConfigurationError.self) {
            try KubernetesClientConfiguration.inCluster(environment: [:], serviceAccountDirectory: dir)
        }
    }

    @Test func nodeNameFallbacks() {
        var s = KubernetesSettings()
        #expect(s.resolvedNodeName(environment: ["NODE_NAME": "n-env"]) == "n-env")
        s.nodeName = "n-flag"
        #expect(s.resolvedNodeName(environment: ["NODE_NAME": "n-env"]) == "n-flag")
        s.nodeName = nil
        #expect(s.resolvedNodeName(environment: [:]) == ProcessInfo.processInfo.hostName)
    }

    @Test func tokenFileIsReReadAfterItsInterval() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try write("t", "one")
        let t = TokenSource(file: p, refreshInterval: .milliseconds(50))
        #expect(try t.current() == "one")
        try "two".write(toFile: p, atomically: true, encoding: .utf8)
        #expect(try t.current() == "one")  // cached within the interval
        Thread.sleep(forTimeInterval: 0.1)
        #expect(try t.current() == "two")
    }
}
