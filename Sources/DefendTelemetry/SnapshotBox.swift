import Synchronization

/// The latest published snapshot. The event loop is its only writer; the HTTP and status threads read.
/// A lock (not the loop's state) is all they share, held only to copy one value.
public final class SnapshotBox: Sendable {
    private let latest = Mutex<AgentSnapshot?>(nil)

    public init() {}

    public func publish(_ snapshot: AgentSnapshot) {
        latest.withLock { $0 = snapshot }
    }

    /// nil until the agent published once (start-up not finished).
    public func read() -> AgentSnapshot? {
        latest.withLock { $0 }
    }
}
