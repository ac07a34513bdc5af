import Testing
import Foundation
import Glibc
@testable import DefendEnrich

// Responses as documented by each provider.
private let awsIdentity = """
{
    "devpayProductCodes" : null,
    "marketplaceProductCodes" : [ "1abc2defghijklm3nopqrs4tu" ],
    "availabilityZone" : "us-west-2b",
    "privateIp" : "10.158.112.84",
    "version" : "2017-09-30",
    "instanceId" : "i-1234567890abcdef0",
    "billingProducts" : null,
    "instanceType" : "t2.micro",
    "accountId" : "123456789012",
    "imageId" : "ami-5fb8c835",
    "pendingTime" : "2016-11-19T16:32:11Z",
    "architecture" : "x86_64",
    "kernelId" : null,
    "ramdiskId" : null,
    "region" : "us-west-2"
}
"""
private let gcpRecursive = """
{"instance":{"id":4567890123456789012,"name":"gke-cluster-1-default-pool-1","zone":"projects/123456789012/zones/us-central1-a",
"machineType":"projects/123456789012/machineTypes/e2-standard-4","hostname":"gke-1.c.my-project.internal"},
"project":{"numericProjectId":123456789012,"projectId":"my-project"}}
"""
private let azureCompute = """
{"azEnvironment":"AzurePublicCloud","location":"westus","name":"examplevmname","offer":"UbuntuServer",
"osType":"Linux","resourceGroupName":"macikgo-test-may-23","subscriptionId":"8d10da13-8125-4ba9-a717-bf7490507b3d",
"vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","vmSize":"Standard_A3","zone":"1"}
"""

private let token = "AQAEAFTNrA4eEGx0AQgJ1arIq_Cc-t4tWt3fB0Hd8RKhXlKc5ccvhg=="

private func awsServer() throws -> TestHTTPServer {
    try TestHTTPServer { req in
        if req.method == "PUT", req.path == "/latest/api/token" {
            guard req.headers["x-aws-ec2-metadata-token-ttl-seconds"] != nil else { return .init(status: 400) }
            return .init(status: 200, body: token)
        }
        if req.method == "GET", req.path == "/latest/dynamic/instance-identity/document" {
            guard req.headers["x-aws-ec2-metadata-token"] == token else { return .init(status: 401) }
            return .init(status: 200, headers: [("Content-Type", "text/plain")], body: awsIdentity)
        }
        return .init(status: 404)
    }
}

/// A port nothing listens on (connection refused).
private func closedPort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    close(fd)
    return UInt16(bigEndian: addr.sin_port)
}

@Suite(.serialized) struct CloudMetadataTests {
    @Test func awsIMDSv2() throws {
        let s = try awsServer()
        defer { s.stop() }
        let none = "http://127.0.0.1:\(closedPort())"
        let c = try #require(CloudMetadataDetector.detect(CloudMetadataConfig(awsBaseURL: s.baseURL, gcpBaseURL: none, azureBaseURL: none)))
        #expect(c == CloudMetadata(provider: "aws", accountID: "123456789012", availabilityZone: "us-west-2b",
                                   instanceID: "i-1234567890abcdef0", machineType: "t2.micro", region: "us-west-2",
                                   serviceName: "EC2"))
        #expect(s.requests.map(\.method) == ["PUT", "GET"])
    }

    @Test func gcpWithChunkedBody() throws {
        let s = try TestHTTPServer { req in
            guard req.headers["metadata-flavor"] == "Google" else { return .init(status: 403) }
            guard req.path.hasPrefix("/computeMetadata/v1/") else { return .init(status: 404) }
            return .init(status: 200, headers: [("Metadata-Flavor", "Google"), ("Content-Type", "application/json")],
                         body: gcpRecursive, chunked: true)
        }
        defer { s.stop() }
        let none = "http://127.0.0.1:\(closedPort())"
        let c = try #require(CloudMetadataDetector.detect(CloudMetadataConfig(awsBaseURL: none, gcpBaseURL: s.baseURL, azureBaseURL: none)))
        #expect(c.provider == "gcp")
        #expect(c.projectID == "my-project")
        #expect(c.accountID == "my-project")
        #expect(c.instanceID == "4567890123456789012")
        #expect(c.instanceName == "gke-cluster-1-default-pool-1")
        #expect(c.availabilityZone == "us-central1-a")
        #expect(c.region == "us-central1")
        #expect(c.machineType == "e2-standard-4")
    }

    @Test func azure() throws {
        let s = try TestHTTPServer { req in
            guard req.headers["metadata"] == "true", req.path.hasPrefix("/metadata/instance/compute?api-version=") else {
                return .init(status: 400)
            }
            return .init(status: 200, headers: [("Content-Type", "application/json")], body: azureCompute)
        }
        defer { s.stop() }
        let none = "http://127.0.0.1:\(closedPort())"
        let c = try #require(CloudMetadataDetector.detect(CloudMetadataConfig(awsBaseURL: none, gcpBaseURL: none, azureBaseURL: s.baseURL)))
        #expect(c == CloudMetadata(provider: "azure", accountID: "8d10da13-8125-4ba9-a717-bf7490507b3d",
                                   availabilityZone: "1", instanceID: "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
                                   instanceName: "examplevmname", machineType: "Standard_A3", region: "westus",
                                   serviceName: "Virtual Machines"))
    }

    @Test func noCloudWhenRefusedOrSilentOrWrongAnswers() throws {
        let refused = "http://127.0.0.1:\(closedPort())"
        #expect(CloudMetadataDetector.detect(CloudMetadataConfig(awsBaseURL: refused, gcpBaseURL: refused, azureBaseURL: refused)) == nil)
        // a server answering 404 to everything, and a GCP lookalike without the Metadata-Flavor header
        let s = try TestHTTPServer { req in
            req.path.hasPrefix("/computeMetadata") ? .init(status: 200, body: gcpRecursive) : .init(status: 404)
        }
        defer { s.stop() }
        #expect(CloudMetadataDetector.detect(CloudMetadataConfig(awsBaseURL: s.baseURL, gcpBaseURL: s.baseURL, azureBaseURL: s.baseURL)) == nil)
        #expect(CloudMetadataDetector.detect(CloudMetadataConfig(enabled: false)) == nil)
    }

    @Test func silentServerTimesOut() throws {
        // listening socket that never accepts: connect completes, no answer ever comes
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let url = "http://127.0.0.1:\(UInt16(bigEndian: addr.sin_port))/x"
        let client = MiniHTTPClient(timeoutMs: 150)
        #expect(throws: HTTPClientError.timeout(url)) { try client.request("GET", url) }
    }

    @Test func httpParsing() throws {
        let r = try MiniHTTPClient.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhelloEXTRA".utf8), url: "u")
        #expect(r.status == 200 && r.text == "hello" && r.headers["x-a"] == "b")
        let c = try MiniHTTPClient.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n".utf8), url: "u")
        #expect(c.text == "abcde")
        #expect(throws: HTTPClientError.malformedResponse("u")) { try MiniHTTPClient.parse(Array("garbage".utf8), url: "u") }
        #expect(throws: HTTPClientError.badURL("https://x/")) { try MiniHTTPClient().request("GET", "https://x/") }
    }
}

@Suite struct HostAndAgentTests {
    @Test func hostMetadataOfThisMachine() throws {
        let h = HostMetadata.collect()
        var u = utsname()
        uname(&u)
        #expect(h.name?.isEmpty == false)
        #expect(h.hostname == h.name?.split(separator: ".").first.map(String.init))
        #expect(h.architecture == "amd64" || h.architecture == "arm64")
        #expect(h.os.type == "linux")
        #expect(h.os.name == "Linux")
        #expect(h.os.kernel?.isEmpty == false)
        #expect(h.bootID.flatMap { UUID(uuidString: $0) } != nil)
        #expect(h.pidNamespaceInode ?? 0 > 0)
        #expect(h.ip.contains("127.0.0.1"))
        for m in h.mac {
            #expect(m.count == 17 && m != "00:00:00:00:00:00")
        }
        if let id = try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8) {
            #expect(h.id == id.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test func osReleaseParsing() throws {
        let dir = NSTemporaryDirectory() + "/defend-etc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "PRETTY_NAME=\"Ubuntu 20.04.5 LTS\"\nNAME='Ubuntu'\nVERSION_ID=\"20.04\"\nID=ubuntu\n# c\nID_LIKE=debian\nX=\"a \\\"q\\\"\"\n"
            .write(toFile: dir + "/os-release", atomically: true, encoding: .utf8)
        try "1bb9e6a948dfb1c3cd38d1fdc8de4481\n".write(toFile: dir + "/machine-id", atomically: true, encoding: .utf8)
        let h = HostMetadata.collect(etcRoot: dir)
        #expect(h.os.full == "Ubuntu 20.04.5 LTS")
        #expect(h.os.family == "ubuntu")
        #expect(h.os.platform == "ubuntu")
        #expect(h.os.version == "20.04")
        #expect(h.id == "1bb9e6a948dfb1c3cd38d1fdc8de4481")
        #expect(HostMetadata.parseOSRelease("X=\"a \\\"q\\\"\"")["X"] == "a \"q\"")
    }

    @Test func agentIDIsCreatedOnceAndPersisted() throws {
        let dir = NSTemporaryDirectory() + "/defend-state-" + UUID().uuidString + "/nested"
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let a = try AgentIdentity.loadOrCreate(stateDirectory: dir)
        #expect(UUID(uuidString: a) != nil)
        #expect(a == a.lowercased())
        let b = try AgentIdentity.loadOrCreate(stateDirectory: dir)
        #expect(a == b)
    }

    /// A corrupt id file must not keep the agent (and the node's protection) down: it is kept aside
    /// with its content, a new id is made and persisted, and a warning names both files.
    @Test(arguments: ["not-a-uuid", "", "\u{0}\u{1}garbage", String(repeating: "x", count: 10_000)])
    func corruptAgentIDIsSetAsideAndReplaced(content: String) throws {
        let dir = NSTemporaryDirectory() + "/defend-state-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try content.write(toFile: dir + "/agent-id", atomically: true, encoding: .utf8)
        var warnings: [String] = []
        let id = try AgentIdentity.loadOrCreate(stateDirectory: dir, warn: { warnings.append($0) })
        #expect(UUID(uuidString: id) != nil)
        #expect(try AgentIdentity.loadOrCreate(stateDirectory: dir) == id, "the new id is persisted")
        let aside = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("agent-id.corrupt-") }
        #expect(aside.count == 1)
        let kept = try #require(aside.first)
        #expect(try String(contentsOfFile: dir + "/" + kept, encoding: .utf8) == content, "the bad file is kept as it was")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains(kept) == true)
    }

    /// A FIFO in place of the id file is set aside too (reading it would block start-up forever).
    @Test func fifoAgentIDDoesNotBlock() throws {
        let dir = NSTemporaryDirectory() + "/defend-state-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(mkfifo(dir + "/agent-id", 0o600) == 0)
        var warnings: [String] = []
        let id = try AgentIdentity.loadOrCreate(stateDirectory: dir, warn: { warnings.append($0) })
        #expect(UUID(uuidString: id) != nil)
        #expect(warnings.count == 1)
    }
}
