import DefendEnrich

/// The periodic `metrics-cloud_defend.heartbeat-<ns>` document: tells the SIEM the agent is alive
/// and whether block actions are in force on this node.
public struct HeartbeatBuilder {
    private let staticMembers: [UInt8]
    private let config: DocumentConfig
    private var ids = EventIDGenerator()

    public init(agent: AgentMetadata, host: HostMetadata, cloud: CloudMetadata?, config: DocumentConfig = DocumentConfig()) {
        self.config = config
        staticMembers = StaticFragments.members(agent: agent, host: host, cloud: cloud, config: config)
    }

    /// Appends one NDJSON line; returns its span. `blockActionEnabled`: the policy blocks and the kernel
    /// enforces it.
    @discardableResult
    public mutating func write(unixNs: Int64, blockActionEnabled: Bool, into buffer: inout [UInt8]) -> DocumentSpan {
        var w = JSONWriter(maxStringBytes: config.maxStringBytes)
        w.beginObject()
        w.key("@timestamp"); w.timestamp(unixNs: unixNs)
        w.rawMembers(staticMembers)
        w.object("cloud_defend")
        w.key("block_action_enabled"); w.bool(blockActionEnabled)
        if let id = config.packagePolicyID { w.key("package_policy_id"); w.string(id) }
        if let rev = config.packagePolicyRevision { w.key("package_policy_revision"); w.int(Int64(rev)) }
        w.endObject()
        w.object("data_stream")
        w.key("dataset"); w.rawString("cloud_defend.heartbeat")
        w.key("namespace"); w.string(config.namespace)
        w.key("type"); w.rawString("metrics")
        w.endObject()
        w.object("event")
        w.key("created"); w.timestamp(unixNs: unixNs)
        w.key("dataset"); w.rawString("cloud_defend.heartbeat")
        var id = [UInt8](repeating: 0, count: 40)
        let n = id.withUnsafeMutableBufferPointer { ids.write(to: $0.baseAddress!) }
        w.key("id"); w.string(bytes: Array(id[..<n]))
        let idOffset = w.buffer.count - 1 - DocumentSpan.idLength
        w.key("kind"); w.rawString("metric")
        w.key("module"); w.rawString("cloud_defend")
        w.endObject()
        w.endObject()
        w.newline()
        let bytes = w.bytes
        buffer.append(contentsOf: bytes)
        return DocumentSpan(length: Int32(bytes.count), idOffset: Int32(idOffset), stream: .heartbeat)
    }
}
