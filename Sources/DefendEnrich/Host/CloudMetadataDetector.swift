import Foundation

/// Where and how long to look for instance metadata services.
public struct CloudMetadataConfig: Sendable, Hashable {
    public var awsBaseURL: String
    public var gcpBaseURL: String
    public var azureBaseURL: String
    /// Deadline of each request (the three providers are probed concurrently).
    public var timeoutMs: Int
    public var enabled: Bool

    public init(awsBaseURL: String = "http://169.254.169.254", gcpBaseURL: String = "http://169.254.169.254",
                azureBaseURL: String = "http://169.254.169.254", timeoutMs: Int = 300, enabled: Bool = true) {
        self.awsBaseURL = awsBaseURL; self.gcpBaseURL = gcpBaseURL; self.azureBaseURL = azureBaseURL
        self.timeoutMs = timeoutMs; self.enabled = enabled
    }
}

/// Detects the cloud once at start by asking AWS (IMDSv2: token PUT, then the identity document),
/// GCP (`Metadata-Flavor: Google`) and Azure (`Metadata: true`, api-version) concurrently. The first
/// provider (in that order) that answers a well-formed document wins; nil when none does.
public enum CloudMetadataDetector {
    public static func detect(_ config: CloudMetadataConfig = CloudMetadataConfig()) -> CloudMetadata? {
        guard config.enabled else { return nil }
        let client = MiniHTTPClient(timeoutMs: config.timeoutMs)
        let results = ResultBox()
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            let r: CloudMetadata?
            switch i {
            case 0: r = aws(client, base: config.awsBaseURL)
            case 1: r = gcp(client, base: config.gcpBaseURL)
            default: r = azure(client, base: config.azureBaseURL)
            }
            results.set(i, r)
        }
        return results.first()
    }

    public static func aws(_ client: MiniHTTPClient, base: String) -> CloudMetadata? {
        var headers: [(String, String)] = []
        if let tok = try? client.request("PUT", base + "/latest/api/token",
                                         headers: [("X-aws-ec2-metadata-token-ttl-seconds", "60")]),
           tok.status == 200, !tok.body.isEmpty {
            headers.append(("X-aws-ec2-metadata-token", tok.text.trimmingSpaces()))
        }
        guard let doc = try? client.request("GET", base + "/latest/dynamic/instance-identity/document", headers: headers),
              doc.status == 200, let obj = json(doc.body),
              let instance = obj["instanceId"] as? String else { return nil }
        return CloudMetadata(provider: "aws", accountID: obj["accountId"] as? String,
                             availabilityZone: obj["availabilityZone"] as? String, instanceID: instance,
                             machineType: obj["instanceType"] as? String, region: obj["region"] as? String,
                             serviceName: "EC2")
    }

    public static func gcp(_ client: MiniHTTPClient, base: String) -> CloudMetadata? {
        guard let r = try? client.request("GET", base + "/computeMetadata/v1/?recursive=true&alt=json",
                                          headers: [("Metadata-Flavor", "Google")]),
              r.status == 200, r.headers["metadata-flavor"] == "Google", let obj = json(r.body),
              let instance = obj["instance"] as? [String: Any] else { return nil }
        let project = obj["project"] as? [String: Any] ?? [:]
        func last(_ v: Any?) -> String? { (v as? String)?.split(separator: "/").last.map(String.init) }
        let zone = last(instance["zone"])
        var region: String?
        if let z = zone, let dash = z.lastIndex(of: "-") { region = String(z[..<dash]) }
        let projectID = project["projectId"] as? String
        let instanceID: String? = (instance["id"] as? NSNumber).map { $0.stringValue } ?? instance["id"] as? String
        return CloudMetadata(provider: "gcp", accountID: projectID, availabilityZone: zone, instanceID: instanceID,
                             instanceName: instance["name"] as? String, machineType: last(instance["machineType"]),
                             projectID: projectID, region: region, serviceName: "GCE")
    }

    public static func azure(_ client: MiniHTTPClient, base: String) -> CloudMetadata? {
        guard let r = try? client.request("GET", base + "/metadata/instance/compute?api-version=2021-02-01&format=json",
                                          headers: [("Metadata", "true")]),
              r.status == 200, let obj = json(r.body), let vmID = obj["vmId"] as? String else { return nil }
        let zone = (obj["zone"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        return CloudMetadata(provider: "azure", accountID: obj["subscriptionId"] as? String, availabilityZone: zone,
                             instanceID: vmID, instanceName: obj["name"] as? String,
                             machineType: obj["vmSize"] as? String, projectName: nil,
                             region: obj["location"] as? String, serviceName: "Virtual Machines")
    }

    static func json(_ body: [UInt8]) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
    }

    private final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [CloudMetadata?] = [nil, nil, nil]
        func set(_ i: Int, _ v: CloudMetadata?) { lock.lock(); values[i] = v; lock.unlock() }
        func first() -> CloudMetadata? { lock.lock(); defer { lock.unlock() }; return values.compactMap { $0 }.first }
    }
}
