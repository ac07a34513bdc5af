/// `host.os.*`.
public struct OSMetadata: Sendable, Hashable {
    public var family: String?
    public var full: String?
    public var kernel: String?
    public var name: String?
    public var platform: String?
    public var type: String?
    public var version: String?
    public init(family: String? = nil, full: String? = nil, kernel: String? = nil, name: String? = nil,
                platform: String? = nil, type: String? = nil, version: String? = nil) {
        self.family = family; self.full = full; self.kernel = kernel; self.name = name
        self.platform = platform; self.type = type; self.version = version
    }
}

/// `host.*`, collected once at start (`HostMetadata.collect()`).
public struct HostMetadata: Sendable, Hashable {
    public var name: String?
    public var hostname: String?
    /// /etc/machine-id
    public var id: String?
    public var ip: [String]
    /// Non-loopback interfaces, `aa:bb:cc:dd:ee:ff`.
    public var mac: [String]
    public var architecture: String?
    public var bootID: String?
    public var pidNamespaceInode: UInt64?
    public var os: OSMetadata
    public init(name: String? = nil, hostname: String? = nil, id: String? = nil, ip: [String] = [],
                mac: [String] = [], architecture: String? = nil, bootID: String? = nil,
                pidNamespaceInode: UInt64? = nil, os: OSMetadata = OSMetadata()) {
        self.name = name; self.hostname = hostname; self.id = id; self.ip = ip; self.mac = mac
        self.architecture = architecture; self.bootID = bootID; self.pidNamespaceInode = pidNamespaceInode
        self.os = os
    }
}

/// `agent.*`.
public struct AgentMetadata: Sendable, Hashable {
    public var id: String
    public var version: String
    public var type: String
    public init(id: String, version: String, type: String = "cloud-defend") {
        self.id = id; self.version = version; self.type = type
    }
}

/// `cloud.*` from an instance metadata service. Absent (nil) when not on a known cloud.
public struct CloudMetadata: Sendable, Hashable {
    public var provider: String
    public var accountID: String?
    public var accountName: String?
    public var availabilityZone: String?
    public var instanceID: String?
    public var instanceName: String?
    public var machineType: String?
    public var projectID: String?
    public var projectName: String?
    public var region: String?
    public var serviceName: String?
    public init(provider: String, accountID: String? = nil, accountName: String? = nil,
                availabilityZone: String? = nil, instanceID: String? = nil, instanceName: String? = nil,
                machineType: String? = nil, projectID: String? = nil, projectName: String? = nil,
                region: String? = nil, serviceName: String? = nil) {
        self.provider = provider; self.accountID = accountID; self.accountName = accountName
        self.availabilityZone = availabilityZone; self.instanceID = instanceID; self.instanceName = instanceName
        self.machineType = machineType; self.projectID = projectID; self.projectName = projectName
        self.region = region; self.serviceName = serviceName
    }
}
