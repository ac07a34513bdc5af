/// Settings for ECS documents (from the agent config).
public struct DocumentConfig: Sendable, Hashable {
    /// `data_stream.namespace` of every stream.
    public var namespace: String
    /// `cloud_defend.package_policy_id` / `package_policy_revision`, passed through when set.
    public var packagePolicyID: String?
    public var packagePolicyRevision: Int?
    public var ecsVersion: String
    /// Bounds on what one document carries: elements of each args array, their total bytes, and the
    /// bytes of any one string (paths, args). Beyond them values are cut silently (on a UTF-8 boundary).
    public var maxArgs: Int
    public var maxArgsBytes: Int
    public var maxStringBytes: Int

    public init(namespace: String = "default", packagePolicyID: String? = nil, packagePolicyRevision: Int? = nil,
                ecsVersion: String = "8.7.0", maxArgs: Int = 128, maxArgsBytes: Int = 16 * 1024,
                maxStringBytes: Int = 8192) {
        self.namespace = namespace; self.packagePolicyID = packagePolicyID
        self.packagePolicyRevision = packagePolicyRevision; self.ecsVersion = ecsVersion
        self.maxArgs = maxArgs; self.maxArgsBytes = maxArgsBytes; self.maxStringBytes = maxStringBytes
    }
}

/// The three data streams documents go to.
public enum DocumentStream: Sendable, Hashable, CaseIterable {
    case process, file, alerts

    public var dataset: String {
        switch self {
        case .process: return "cloud_defend.process"
        case .file: return "cloud_defend.file"
        case .alerts: return "cloud_defend.alerts"
        }
    }
}
