import DefendEnrich

/// The members every document shares (`agent`, `host`, `cloud`, `ecs`, `event.module`-independent parts),
/// serialised once at start and appended with one copy per document.
enum StaticFragments {
    static func members(agent: AgentMetadata, host: HostMetadata, cloud: CloudMetadata?,
                        config: DocumentConfig) -> [UInt8] {
        var w = JSONWriter(maxStringBytes: config.maxStringBytes)
        w.beginObject()
        w.object("agent")
        w.key("id"); w.string(agent.id)
        w.key("type"); w.string(agent.type)
        w.key("version"); w.string(agent.version)
        w.endObject()

        w.object("host")
        if let v = host.architecture { w.key("architecture"); w.string(v) }
        if let v = host.bootID { w.object("boot"); w.key("id"); w.string(v); w.endObject() }
        if let v = host.hostname { w.key("hostname"); w.string(v) }
        if let v = host.id { w.key("id"); w.string(v) }
        if !host.ip.isEmpty { w.key("ip"); w.stringArray(host.ip, maxCount: 64, maxTotalBytes: 4096) }
        if !host.mac.isEmpty { w.key("mac"); w.stringArray(host.mac, maxCount: 64, maxTotalBytes: 4096) }
        if let v = host.name { w.key("name"); w.string(v) }
        w.object("os")
        let os = host.os
        if let v = os.family { w.key("family"); w.string(v) }
        if let v = os.full { w.key("full"); w.string(v) }
        if let v = os.kernel { w.key("kernel"); w.string(v) }
        if let v = os.name { w.key("name"); w.string(v) }
        if let v = os.platform { w.key("platform"); w.string(v) }
        if let v = os.type { w.key("type"); w.string(v) }
        if let v = os.version { w.key("version"); w.string(v) }
        w.endObject()
        if let v = host.pidNamespaceInode { w.key("pid_ns_ino"); w.uint(v) }
        w.endObject()

        if let c = cloud {
            w.object("cloud")
            if c.accountID != nil || c.accountName != nil {
                w.object("account")
                if let v = c.accountID { w.key("id"); w.string(v) }
                if let v = c.accountName { w.key("name"); w.string(v) }
                w.endObject()
            }
            if let v = c.availabilityZone { w.key("availability_zone"); w.string(v) }
            if c.instanceID != nil || c.instanceName != nil {
                w.object("instance")
                if let v = c.instanceID { w.key("id"); w.string(v) }
                if let v = c.instanceName { w.key("name"); w.string(v) }
                w.endObject()
            }
            if let v = c.machineType { w.object("machine"); w.key("type"); w.string(v); w.endObject() }
            if c.projectID != nil || c.projectName != nil {
                w.object("project")
                if let v = c.projectID { w.key("id"); w.string(v) }
                if let v = c.projectName { w.key("name"); w.string(v) }
                w.endObject()
            }
            w.key("provider"); w.string(c.provider)
            if let v = c.region { w.key("region"); w.string(v) }
            if let v = c.serviceName { w.object("service"); w.key("name"); w.string(v); w.endObject() }
            w.endObject()
        }
        w.object("ecs"); w.key("version"); w.string(config.ecsVersion); w.endObject()
        w.endObject()
        return stripBraces(w.bytes)
    }

    /// `"data_stream":{...}` for one stream.
    static func dataStream(_ stream: DocumentStream, namespace: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.object("data_stream")
        w.key("dataset"); w.string(stream.dataset)
        w.key("namespace"); w.string(namespace)
        w.key("type"); w.rawString("logs")
        w.endObject()
        w.endObject()
        return stripBraces(w.bytes)
    }

    /// `{"a":1}` -> `"a":1`
    static func stripBraces(_ b: [UInt8]) -> [UInt8] {
        guard b.count >= 2 else { return [] }
        return Array(b[1..<(b.count - 1)])
    }
}
