/// `/healthz` and `/readyz`, decided from the latest snapshot and the current boot time only.
public struct HealthCheck: Sendable {
    /// A loop that has not published for this long is stuck (it publishes every second or faster).
    public var maxSnapshotAgeNs: UInt64
    /// A ring buffer not drained for this long means the loop does not reach its poll.
    public var maxDrainAgeNs: UInt64

    public init(maxSnapshotAgeNs: UInt64 = 10_000_000_000, maxDrainAgeNs: UInt64 = 10_000_000_000) {
        self.maxSnapshotAgeNs = maxSnapshotAgeNs
        self.maxDrainAgeNs = maxDrainAgeNs
    }

    public struct Verdict: Sendable, Hashable {
        public var ok: Bool
        public var reason: String
    }

    /// Alive: the loop published recently and drained the ring buffer recently.
    public func health(_ snapshot: AgentSnapshot?, nowBootNs: UInt64) -> Verdict {
        guard let s = snapshot else { return Verdict(ok: false, reason: "starting: the event loop has not run yet") }
        if s.phase == .stopping { return Verdict(ok: false, reason: "stopping") }
        let age = nowBootNs &- s.publishedBootNs
        if nowBootNs >= s.publishedBootNs, age > maxSnapshotAgeNs {
            return Verdict(ok: false, reason: "event loop stalled: last snapshot \(age / 1_000_000) ms ago")
        }
        if s.phase == .running {
            let drain = nowBootNs &- s.lastDrainBootNs
            if nowBootNs >= s.lastDrainBootNs, drain > maxDrainAgeNs {
                return Verdict(ok: false, reason: "ring buffer not drained for \(drain / 1_000_000) ms")
            }
        }
        return Verdict(ok: true, reason: "ok")
    }

    /// Ready: alive, probes attached and a policy enforced.
    public func readiness(_ snapshot: AgentSnapshot?, nowBootNs: UInt64) -> Verdict {
        let alive = health(snapshot, nowBootNs: nowBootNs)
        guard alive.ok else { return alive }
        guard let s = snapshot, s.ready else { return Verdict(ok: false, reason: "not ready: probes or policy not in force yet") }
        return Verdict(ok: true, reason: "ready: policy generation \(s.policy.generation)")
    }
}
