import Prometheus
import Synchronization

/// Renders a snapshot in the Prometheus text exposition format (swift-prometheus's registry).
///
/// The snapshot already holds totals, so each scrape sets every series to the snapshot's value
/// (a counter is reset, then incremented by its total) under one lock: scrapes are serialized and
/// a scrape never sees half of one snapshot and half of another.
public final class PrometheusExposition: Sendable {
    private let series = Mutex(Writer())

    public init() {}

    /// The exposition text for `snapshot`; `snapshotAgeSeconds` is how old it is at scrape time.
    public func render(_ snapshot: AgentSnapshot, snapshotAgeSeconds: Double) -> [UInt8] {
        series.withLock { w in
            Self.describe(snapshot, snapshotAgeSeconds: snapshotAgeSeconds, into: w)
            return w.registry.emitToBuffer()
        }
    }

    /// Every series, named once here (the README's metric list follows this function).
    static func describe(_ s: AgentSnapshot, snapshotAgeSeconds: Double, into w: Writer) {
        w.gauge("build_info", "", "Agent version (value 1).", ["version": s.version], 1)
        w.gauge("ready", "", "1 when probes are attached and a policy is enforced.", [:], s.ready ? 1 : 0)
        w.gauge("snapshot_age", "seconds", "Age of the loop's latest snapshot at scrape time.", [:], snapshotAgeSeconds)
        w.gauge("start_time", "seconds", "Unix time the agent started.", [:], Double(s.startedUnixSeconds))

        for (type, n) in s.events.recordsByType {
            w.counter("kernel_records", "total", "Kernel records received, by record type.", ["type": type], n)
        }
        for (action, n) in s.events.decisionsByAction {
            w.counter("decisions", "total", "Records whose policy decision carried an action, by action.", ["action": action], n)
        }
        for (operation, n) in s.events.denialsByOperation {
            w.counter("denials", "total", "Operations the kernel refused, by policy operation.", ["operation": operation], n)
        }
        w.counter("documents", "total", "ECS documents produced.", [:], s.events.documents)
        w.counter("alerts", "total", "Alert documents produced.", [:], s.events.alerts)
        w.counter("redecided_records", "total", "Fork/exec records decided again in user space (container registration race).", [:], s.events.redecided)

        for loss in s.losses.losses {
            w.counter("kernel_records_lost", "total", "Records lost before user space read them, by type and reason.",
                      ["type": loss.type, "reason": loss.reason], loss.count)
        }
        w.counter("decode_errors", "total", "Kernel records user space could not decode.", [:], s.losses.decodeErrors)
        w.counter("ring_reader_backpressure_waits", "total", "Times the ring-buffer reader waited for the event loop (hand-off full).",
                  [:], s.losses.readerBackpressureWaits)
        w.counter("ring_reader_backpressure_seconds", "total", "Seconds the ring-buffer reader waited for the event loop.",
                  [:], seconds: s.losses.readerBackpressureSeconds)

        for q in s.queues {
            w.gauge("queue_depth", "", "Items waiting in a bounded queue.", ["queue": q.name], Double(q.depth))
            w.gauge("queue_capacity", "", "Capacity of a bounded queue (0: unbounded).", ["queue": q.name], Double(q.capacity))
        }

        let o = s.output
        w.counter("output_documents_sent", "total", "Documents the output delivered.", [:], o.documentsSent)
        w.counter("output_documents_retried", "total", "Documents sent again after a retryable failure.", [:], o.documentsRetried)
        w.counter("output_documents_dead_lettered", "total", "Documents kept in the dead-letter store.", [:], o.documentsDeadLettered)
        w.counter("output_documents_dropped", "total", "Documents lost by the output (counted, never silent).", [:], o.documentsDropped)
        w.counter("output_bytes", "total", "Bytes the output delivered.", [:], o.bytesSent)
        w.counter("output_bulk_requests", "total", "Bulk requests completed.", [:], o.bulkRequests)
        w.counter("output_bulk_latency_seconds", "total", "Summed latency of the completed bulk requests.", [:], seconds: o.bulkLatencySecondsSum)

        let p = s.policy
        w.counter("policy_reloads", "total", "Policy reloads that took effect.", [:], p.reloads)
        w.counter("policy_reload_failures", "total", "Policy reloads rejected (invalid file or kernel refusal).", [:], p.reloadFailures)
        w.gauge("policy_generation", "", "Kernel generation of the policy in force.", [:], Double(p.generation))

        let e = s.enrichment
        w.gauge("processes", "", "Processes in the process table.", [:], Double(e.processes))
        w.gauge("containers", "", "Container cgroups known.", [:], Double(e.containers))
        w.counter("kubernetes_watch_restarts", "total", "Kubernetes API watches restarted.", [:], e.kubernetesWatchRestarts)

        w.counter("process_cpu_seconds", "total", "User and system CPU time of the agent.", [:], seconds: s.process.cpuSeconds, namespace: "")
        w.gauge("process_resident_memory", "bytes", "Resident memory of the agent.", [:], Double(s.process.residentBytes), namespace: "")

        let stats: Double = s.kernel.bpfStatsEnabled.map { $0 ? 1 : 0 } ?? -1
        w.gauge("bpf_stats_enabled", "", "kernel.bpf_stats_enabled: 1 on, 0 off (program run times stay 0), -1 unreadable.", [:], stats)
        for prog in s.kernel.programs {
            w.counter("bpf_program_run_time_seconds", "total", "Time spent in a BPF program (needs kernel.bpf_stats_enabled=1).",
                      ["program": prog.name], seconds: Double(prog.runTimeNs) / 1e9)
            w.counter("bpf_program_runs", "total", "Runs of a BPF program (needs kernel.bpf_stats_enabled=1).",
                      ["program": prog.name], prog.runCount)
        }
    }

    /// Sets series, creating each one on first use (labels sorted, so a series has one identity).
    final class Writer {
        let registry = PrometheusCollectorRegistry()
        var counters: [String: Counter] = [:]
        var gauges: [String: Gauge] = [:]

        static func key(_ name: String, _ labels: [(String, String)]) -> String {
            labels.reduce(name) { $0 + "\u{1}" + $1.0 + "=" + $1.1 }
        }

        func counter(_ name: String, _ unit: String, _ help: String, _ labels: [String: String],
                              _ value: UInt64, namespace: String = "defend") {
            let c = counterSeries(name, unit, help, labels, namespace)
            c.reset()
            c.increment(by: Int64(clamping: value))
        }

        func counter(_ name: String, _ unit: String, _ help: String, _ labels: [String: String],
                              seconds: Double, namespace: String = "defend") {
            let c = counterSeries(name, unit, help, labels, namespace)
            c.reset()
            if seconds > 0, seconds.isFinite { c.increment(by: seconds) }
        }

        func gauge(_ name: String, _ unit: String, _ help: String, _ labels: [String: String],
                            _ value: Double, namespace: String = "defend") {
            let sorted = labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let descriptor = MetricNameDescriptor(namespace: namespace, metricName: name, unitName: unit, helpText: help)
            let k = Self.key(descriptor.name, sorted)
            let g: Gauge
            if let existing = gauges[k] {
                g = existing
            } else {
                g = registry.makeGauge(descriptor: descriptor, labels: sorted)
                gauges[k] = g
            }
            g.set(value)
        }

        private func counterSeries(_ name: String, _ unit: String, _ help: String, _ labels: [String: String],
                                            _ namespace: String) -> Counter {
            let sorted = labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let descriptor = MetricNameDescriptor(namespace: namespace, metricName: name, unitName: unit, helpText: help)
            let k = Self.key(descriptor.name, sorted)
            if let existing = counters[k] { return existing }
            let c = registry.makeCounter(descriptor: descriptor, labels: sorted)
            counters[k] = c
            return c
        }
    }
}
