import DefendTelemetry

/// The operator-facing endpoints of `defend run`: the metrics/health HTTP server and the status socket.
/// Started before the agent loads anything (so /healthz and /readyz answer "starting" during start-up),
/// stopped after the agent's loop returns. Both only read the agent's published snapshots.
public final class AgentServices {
    public let snapshots: SnapshotBox
    public private(set) var metrics: MetricsHTTPServer?
    public private(set) var status: StatusServer?

    /// A metrics address that cannot be served is an error (the operator asked for it); a status socket
    /// that cannot be created is reported and the agent runs without it (protection comes first).
    public init(configuration: AgentConfiguration, snapshots: SnapshotBox = SnapshotBox()) throws(TelemetryError) {
        self.snapshots = snapshots
        if let text = configuration.metricsAddress {
            let address = try ListenAddress(parsing: text)
            let server = try MetricsHTTPServer(address: address, snapshots: snapshots)
            metrics = server
            AgentLog.info("metrics: serving /metrics, /healthz and /readyz on http://\(server.address)")
        }
        if let path = configuration.statusSocketPath, !path.isEmpty {
            do {
                status = try StatusServer(path: path, snapshots: snapshots)
                AgentLog.info("status: answering `defend status` on \(path)")
            } catch {
                AgentLog.warning("\(error); `defend status` will not answer")
            }
        }
    }

    public func stop() {
        metrics?.stop()
        status?.stop()
        metrics = nil
        status = nil
    }
}
