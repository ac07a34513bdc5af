/// The data stream a document belongs to (its `_index` in a bulk request).
public enum DataStreamKind: UInt8, Sendable, Hashable, CaseIterable {
    case process = 0, file = 1, alerts = 2, heartbeat = 3

    /// `logs-cloud_defend.process`, …, `metrics-cloud_defend.heartbeat` (add `-<namespace>`).
    public var streamPrefix: String {
        switch self {
        case .process: return "logs-cloud_defend.process"
        case .file: return "logs-cloud_defend.file"
        case .alerts: return "logs-cloud_defend.alerts"
        case .heartbeat: return "metrics-cloud_defend.heartbeat"
        }
    }

    public var isAlert: Bool { self == .alerts }
}

/// Where one document lies in a run of NDJSON lines, with what the Elasticsearch output needs to
/// address it without parsing JSON: its data stream and where its 36-byte `event.id` is.
public struct DocumentSpan: Sendable, Hashable {
    /// Bytes of the line, newline included.
    public var length: Int32
    /// Offset of the `event.id` UUID (36 ASCII bytes) from the start of the line; -1 if none.
    public var idOffset: Int32
    public var stream: DataStreamKind

    public static let idLength = 36

    public init(length: Int32, idOffset: Int32, stream: DataStreamKind) {
        self.length = length; self.idOffset = idOffset; self.stream = stream
    }
}
