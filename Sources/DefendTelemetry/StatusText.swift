/// `defend status`'s human text: one section per subject, counters that matter first.
public enum StatusText {
    public static func render(_ report: StatusReport) -> String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        line("health:   \(report.healthy ? "healthy" : "UNHEALTHY") (\(report.healthReason))")
        line("ready:    \(report.ready ? "ready" : "NOT READY") (\(report.readyReason))")
        guard let s = report.snapshot else { return out }
        let uptime = s.publishedBootNs > 0 && report.nowBootNs >= s.publishedBootNs
            ? Double(report.nowBootNs - s.publishedBootNs) / 1e9 : 0
        line("agent:    \(s.agentID) version \(s.version), \(s.phase.rawValue), snapshot \(format(uptime)) s old")
        line("")
        line("policy:   generation \(s.policy.generation), \(s.policy.file ?? "built-in default policy")")
        line("          \(s.policy.summary)")
        line("          reloads \(s.policy.reloads), rejected \(s.policy.reloadFailures)"
             + (s.policy.lastReloadError.map { "; last rejection: \(firstLine($0))" } ?? ""))
        if s.policy.blockActions && !s.kernel.blockingEnforced {
            line("          WARNING: the policy blocks, but blocking is not enforced on this kernel")
        }
        line("")
        line("kernel:   \(s.kernel.features)")
        line("          \(s.kernel.attachedPrograms.count) programs attached"
             + (s.kernel.failedPrograms.isEmpty ? "" : ", \(s.kernel.failedPrograms.count) failed: "
                + s.kernel.failedPrograms.keys.sorted().joined(separator: ", ")))
        switch s.kernel.bpfStatsEnabled {
        case true?:
            let runs = s.kernel.programs.reduce(UInt64(0)) { $0 &+ $1.runCount }
            let ns = s.kernel.programs.reduce(UInt64(0)) { $0 &+ $1.runTimeNs }
            line("          BPF run-time statistics on: \(runs) program runs, \(format(Double(ns) / 1e6)) ms in BPF")
        case false?:
            line("          BPF run-time statistics off (sysctl kernel.bpf_stats_enabled=1 or `defend run --bpf-stats`)")
        case nil:
            line("          BPF run-time statistics unknown (kernel.bpf_stats_enabled unreadable)")
        }
        line("")
        let e = s.events
        line("records:  " + pairs(e.recordsByType))
        line("actions:  " + pairs(e.decisionsByAction) + "; documents \(e.documents), alerts \(e.alerts)")
        let denials = e.denialsByOperation.filter { $0.value > 0 }
        line("denied:   " + (denials.isEmpty ? "none" : pairs(denials)))
        let lost = s.losses.losses.filter { $0.count > 0 }
        line("lost:     " + (lost.isEmpty ? "none" : lost.map { "\($0.type)/\($0.reason)=\($0.count)" }.joined(separator: " "))
             + ", decode errors \(s.losses.decodeErrors)")
        let o = s.output
        line("output:   sent \(o.documentsSent), retried \(o.documentsRetried), dead-lettered \(o.documentsDeadLettered), "
             + "dropped \(o.documentsDropped)" + (o.lastError.map { "; last error: \($0)" } ?? ""))
        for q in s.queues {
            line("queue:    \(q.name) \(q.depth)" + (q.capacity > 0 ? " of \(q.capacity)" : ""))
        }
        line("tables:   \(s.enrichment.processes) processes, \(s.enrichment.containers) containers, "
             + "\(s.enrichment.kubernetesWatchRestarts) Kubernetes watch restarts")
        line("process:  CPU \(format(s.process.cpuSeconds)) s, RSS \(s.process.residentBytes / (1 << 20)) MiB")
        return out
    }

    static func pairs(_ d: [String: UInt64]) -> String {
        d.isEmpty ? "none" : d.keys.sorted().map { "\($0)=\(d[$0] ?? 0)" }.joined(separator: " ")
    }

    static func firstLine(_ s: String) -> String { s.split(separator: "\n").first.map(String.init) ?? s }

    static func format(_ v: Double) -> String {
        let scaled = (v * 100).rounded() / 100
        return String(scaled)
    }
}
