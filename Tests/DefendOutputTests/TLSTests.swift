import DefendConfig
@testable import DefendOutput
import Foundation
import Testing

/// TLS against the stand-in server with a CA made here by the openssl command.
@Suite(.serialized) struct TLSTests {
    static func sh(_ cmd: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", cmd]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// CA, a server certificate for `name` signed by it (SAN `name`), and a client certificate.
    static func makePKI(_ dir: String, serverName: String) -> Bool {
        let cmds = [
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout \(dir)/ca.key -out \(dir)/ca.pem -days 2 -subj /CN=defend-test-ca",
            "openssl req -newkey rsa:2048 -nodes -keyout \(dir)/server.key -out \(dir)/server.csr -subj /CN=\(serverName)",
            "printf 'subjectAltName=\(serverName.first!.isNumber ? "IP" : "DNS"):\(serverName)\\n' > \(dir)/ext.cnf",
            "openssl x509 -req -in \(dir)/server.csr -CA \(dir)/ca.pem -CAkey \(dir)/ca.key -CAcreateserial -out \(dir)/server.pem -days 2 -extfile \(dir)/ext.cnf",
            "openssl req -newkey rsa:2048 -nodes -keyout \(dir)/client.key -out \(dir)/client.csr -subj /CN=defend-agent",
            "openssl x509 -req -in \(dir)/client.csr -CA \(dir)/ca.pem -CAkey \(dir)/ca.key -CAcreateserial -out \(dir)/client.pem -days 2",
        ]
        return cmds.allSatisfy { sh($0) == 0 }
    }

    func status(_ server: StandInElasticsearch, _ configure: (inout TLSSettings) -> Void) throws -> Int? {
        var s = ElasticsearchSettings()
        s.hosts = [server.url]
        s.timeout = 3
        configure(&s.tls)
        let t = try ElasticsearchTransport(settings: s)
        defer { t.shutdown() }
        if case .response(let code, _, _) = t.request(.GET, "/") { return code }
        return nil
    }

    @Test func verificationModes() throws {
        let dir = tempDir("tls")
        try #require(Self.makePKI(dir, serverName: "127.0.0.1"), "openssl failed")
        let server = StandInElasticsearch(tls: (dir + "/server.pem", dir + "/server.key"))
        try server.start()
        defer { server.stop() }
        #expect(try status(server) { _ in } == nil, "the system roots do not trust the test CA")
        #expect(try status(server) { $0.certificateAuthorities = [dir + "/ca.pem"] } == 200)
        #expect(try status(server) {
            $0.certificateAuthorities = [dir + "/ca.pem"]; $0.certificate = dir + "/client.pem"; $0.key = dir + "/client.key"
        } == 200)
        #expect(try status(server) { $0.verificationMode = .none } == 200)
    }

    @Test func hostNameIsVerifiedInFullModeOnly() throws {
        let dir = tempDir("tls-name")
        try #require(Self.makePKI(dir, serverName: "es.example"), "openssl failed")
        let server = StandInElasticsearch(tls: (dir + "/server.pem", dir + "/server.key"))
        try server.start()
        defer { server.stop() }
        #expect(try status(server) { $0.certificateAuthorities = [dir + "/ca.pem"] } == nil, "wrong name refused in full mode")
        #expect(try status(server) { $0.certificateAuthorities = [dir + "/ca.pem"]; $0.verificationMode = .certificate } == 200)
    }

    @Test func bulkDeliveryOverTLS() throws {
        let dir = tempDir("tls-bulk")
        try #require(Self.makePKI(dir, serverName: "127.0.0.1"), "openssl failed")
        let server = StandInElasticsearch(tls: (dir + "/server.pem", dir + "/server.key"))
        try server.start()
        defer { server.stop() }
        var settings = esSettings(server)
        settings.tls.certificateAuthorities = [dir + "/ca.pem"]
        let output = try ElasticsearchOutput(settings: settings, queue: QueueSettings(path: dir + "/q"), namespace: "default", log: quietLog)
        let sink = OutputThread(output: output)
        var factory = DocumentFactory()
        var ids: [String] = []
        for _ in 0..<300 { let (b, s, id) = factory.make(.alerts); sink.append(b, span: s); ids.append(id) }
        sink.flush()
        #expect(waitUntil(15) { server.documentCount == 300 })
        sink.close()
        #expect(Set(server.documents.map(\.id)) == Set(ids))
    }
}
