#if canImport(Glibc)
import Glibc
#endif
import DefendECS
import DefendEnrich
import DefendEvents
import DefendKernel
import DefendKubernetes
import DefendOutput
import DefendPolicy
import DefendTelemetry

public enum AgentError: Error, CustomStringConvertible {
    case policy(PolicyError)
    case sensor(SensorError)
    case output(SinkError)
    case configuration(String)
    case state(String)
    case kubernetes(String)

    public var description: String {
        switch self {
        case .kubernetes(let s): return "kubernetes: \(s)"
        case .policy(let e): return e.diagnostics.map(\.description).joined(separator: "\n")
        case .sensor(let e): return "kernel sensor: \(e)"
        case .output(let e): return e.description
        case .configuration(let s): return s
        case .state(let s): return s
        }
    }
}

public let defendVersion = "0.1.0"

/// `defend run`: loads the policy, starts the sensor, and streams enriched ECS documents until
/// SIGINT/SIGTERM. SIGHUP (or a change of the policy file) reloads the policy; a policy that does not
/// validate is reported and the one in force stays in force.
public final class Agent {
    public let configuration: AgentConfiguration
    var policy: CompiledPolicy
    private var policyFile: PolicyFileStamp?
    private var generations: PolicyGenerations
    let sensor: KernelSensor
    let sink: DocumentSink
    var pipeline: EventPipeline!
    private var heartbeat: HeartbeatBuilder
    /// The one owner of container descriptions and of the masks the kernel holds for them.
    let containers: ContainerState
    /// What other threads (the Kubernetes watcher) hand to the loop.
    let inbox = AgentInbox()
    /// The ring-buffer reader of the current `run` (nil before it).
    private(set) var drain: RecordDrain?
    let kubernetes: KubernetesWatcher?
    /// Loads edited policies off the event loop; nil with the built-in default policy.
    let reloader: PolicyReloader?
    /// How often the loop looks at the policy file for edits (tests shorten it).
    var policyCheckIntervalNs: UInt64 = 2_000_000_000
    /// Reloads refused (unreadable or invalid file, or the kernel refused the tables).
    private(set) var reloadsRejected = 0
    /// Reload outcomes and drain times for the snapshots the metrics and status endpoints read.
    var telemetry: AgentTelemetryState

    /// Loads the policy and metadata and attaches the sensor (`makeSensor` is replaceable for tests).
    public init(configuration: AgentConfiguration,
                makeSensor: (AgentConfiguration) throws(SensorError) -> KernelSensor = Agent.realSensor,
                sink: DocumentSink? = nil, snapshots: SnapshotBox = SnapshotBox()) throws(AgentError) {
        // Signals first: a SIGHUP (a ConfigMap update) or SIGTERM during start-up must not kill the
        // agent with the default action; the loop acts on them once it runs.
        SignalWatcher.install()
        self.configuration = configuration
        telemetry = AgentTelemetryState(snapshots: snapshots)
        // A ready file left by a killed agent would announce readiness before this one attaches.
        if let ready = configuration.readyFile, unlink(ready) != 0, errno != ENOENT {
            throw .state("cannot remove the stale ready file \(ready): \(String(cString: strerror(errno)))")
        }
        if let problem = DataStreamNamespace.problem(configuration.dataStreamNamespace) {
            throw .configuration(problem)
        }
        let loaded = try Agent.loadPolicy(configuration.policyPath, inline: configuration.policyInline)
        policy = CompiledPolicy(loaded, scope: configuration.scope)
        policyFile = configuration.policyPath.flatMap(PolicyFileStamp.init(path:))
        reloader = configuration.policyPath.map { PolicyReloader(path: $0, scope: configuration.scope) }

        let agentID: String
        do {
            agentID = try AgentIdentity.loadOrCreate(stateDirectory: configuration.stateDirectory,
                                                      warn: { AgentLog.warning($0) })
        } catch {
            throw .state("state directory \(configuration.stateDirectory): \(error)")
        }
        telemetry.agentID = agentID
        let host = HostMetadata.collect()
        let cloud = configuration.cloudMetadata ? Agent.detectCloud() : nil
        let clock = BootClock.system()

        if let sink {
            self.sink = sink
        } else {
            do throws(SinkError) { self.sink = try Agent.makeSink(configuration) } catch { throw .output(error) }
        }
        do { sensor = try makeSensor(configuration) } catch { throw .sensor(error) }
        AgentLog.info("kernel: \(sensor.capabilitySummary)")
        if configuration.bpfStatistics {
            do { telemetry.bpfStatsFD = try BPFStats.enableRunTimeStatistics() } catch { AgentLog.warning("\(error)") }
        }
        if policy.policy.hasBlockActions, !sensor.blockingEnforced {
            AgentLog.warning("the policy has block actions but blocking is NOT enforced on this kernel "
                             + "(BPF-LSM unavailable); matching operations are reported, not prevented")
        }

        let documentConfig = DocumentConfig(namespace: configuration.dataStreamNamespace,
                                            packagePolicyID: configuration.packagePolicyID,
                                            packagePolicyRevision: configuration.packagePolicyRevision)
        let agentMetadata = AgentMetadata(id: agentID, version: defendVersion)
        heartbeat = HeartbeatBuilder(agent: agentMetadata, host: host, cloud: cloud, config: documentConfig)
        // With a /proc reader, a record about a process the table missed is completed from /proc.
        let processes = ProcessTable(agentID: agentID, clock: clock, procReader: ProcReader())
        let registry = ContainerRegistry(locator: .withContainerdStates(configuration.containerdStateDirectories),
                                         cgroupRoot: CgroupRoot.detect() ?? "/sys/fs/cgroup",
                                         clusterName: configuration.kubernetes?.clusterName)
        registry.podsExpected = configuration.kubernetes?.watch == true
        Agent.checkRuntimeState(registry.locator)
        let documents = DocumentBuilder(agent: agentMetadata, host: host, cloud: cloud, clock: clock,
                                        config: documentConfig)

        // The sensor is attached before the /proc scan, so nothing that starts in between is missed.
        let snapshots = processes.seedFromProc()
        // Containers that exist already: every cgroup directory (also those without a process yet).
        containers = ContainerState(registry: registry, sensor: sensor, policy: policy)
        containers.seed()
        do {
            try containers.install(policy)
        } catch {
            sensor.close()
            throw .sensor(error)
        }
        generations = PolicyGenerations(active: policy, generation: sensor.activeGeneration)
        pipeline = EventPipeline(processes: processes, containers: containers, documents: documents,
                                 sink: self.sink, policies: generations)
        if let k = configuration.kubernetes, k.watch {
            do {
                kubernetes = try Agent.startKubernetes(k, inbox: inbox)
            } catch {
                sensor.close()
                throw error
            }
        } else {
            kubernetes = nil
        }
        AgentLog.info("agent \(agentID) version \(defendVersion): policy \(configuration.policyPath ?? (configuration.policyInline != nil ? "policy_inline" : "built-in default")) "
                      + "(\(policy.policy.summary)), scope \(configuration.scope.rawValue), "
                      + "\(snapshots.count) processes and \(containers.containerCount) container cgroups seeded")
    }

    /// The configured output behind its own thread (the pipeline never waits for its I/O).
    public static func makeSink(_ configuration: AgentConfiguration) throws(SinkError) -> DocumentSink {
        let log: OutputLogger = { level, message in
            switch level {
            case .info: AgentLog.info(message)
            case .warning: AgentLog.warning(message)
            case .error: AgentLog.error(message)
            }
        }
        let output: DocumentOutput
        switch configuration.output {
        case .console, .file:
            output = try NDJSONFileOutput(path: configuration.output == .file ? configuration.outputPath : nil, log: log)
        case .elasticsearch:
            output = try ElasticsearchOutput(settings: configuration.elasticsearch, queue: configuration.queueSettings,
                                             namespace: configuration.dataStreamNamespace, log: log)
        }
        return OutputThread(output: output, closeDeadline: configuration.shutdownTimeout)
    }

    public static func realSensor(_ configuration: AgentConfiguration) throws(SensorError) -> KernelSensor {
        try Sensor(configuration: SensorConfiguration(ringBufferBytes: configuration.ringBufferBytes))
    }

    /// Streams events until a stop signal; returns the process exit status.
    public func run() -> Int32 {
        SignalWatcher.install()
        if let ready = configuration.readyFile { Agent.touch(ready) }
        defer { if let ready = configuration.readyFile { unlink(ready) } }

        var lastFlush = BootClock.nowBootNs()
        var lastStats = lastFlush
        var lastPolicyCheck = lastFlush
        var lastHeartbeat = lastFlush
        var lastSweep = lastFlush
        telemetry.lastDrainBootNs = lastFlush
        // The ring is read on its own thread; this loop enriches, decides and writes behind it.
        let drain = RecordDrain(sensor: sensor)
        self.drain = drain
        drain.start()
        publishSnapshot(phase: .running, nowBootNs: lastFlush, force: true)
        if configuration.heartbeatInterval > 0 { writeHeartbeat() }
        var status: Int32 = 0
        while !SignalWatcher.stopRequested {
            do {
                let n = handle(try drain.take(timeoutMs: 100))
                drainInbox()
                let now = BootClock.nowBootNs()
                publishSnapshot(phase: .running, nowBootNs: now)
                if n == 0 || now &- lastFlush > 200_000_000 {
                    sink.flush()
                    lastFlush = now
                }
                if SignalWatcher.takeReloadRequest() {
                    sink.reopen()
                    requestReload(reason: "SIGHUP")
                }
                for finished in reloader?.takeFinished() ?? [] { install(finished) }
                if now &- lastPolicyCheck > policyCheckIntervalNs {
                    lastPolicyCheck = now
                    if policyFileChanged() { requestReload(reason: "policy file changed") }
                    containers.retry()
                    pipeline.processes.reap(nowBootNs: now)
                }
                if now &- lastSweep > 60_000_000_000 {
                    // Processes whose exit records were lost (counted as kernel losses) leave the table.
                    lastSweep = now
                    _ = pipeline.processes.sweepVanished()
                }
                if configuration.heartbeatInterval > 0,
                   now &- lastHeartbeat > Agent.nanoseconds(seconds: configuration.heartbeatInterval) {
                    lastHeartbeat = now
                    writeHeartbeat()
                }
                if configuration.statisticsInterval > 0,
                   now &- lastStats > Agent.nanoseconds(seconds: configuration.statisticsInterval) {
                    lastStats = now
                    AgentLog.info(statisticsLine())
                }
            } catch {
                AgentLog.error("reading kernel records failed: \(error)")
                status = 1
                break
            }
        }
        publishSnapshot(phase: .stopping, nowBootNs: BootClock.nowBootNs(), force: true)
        // What the reader handed over, then what the kernel still holds, then flush everything.
        drain.stop()
        var drained = 0
        while let batches = try? drain.take(timeoutMs: 0), !batches.isEmpty { drained += handle(batches) }
        while drained < 1_000_000, let n = try? sensor.poll(timeoutMs: 0, handler: { pipeline.handle($0) }), n > 0 {
            drained += n
        }
        kubernetes?.stopBlocking()
        sink.flush()
        sink.close()
        AgentLog.info("stopping: " + statisticsLine())
        sensor.close()
        let out = sink.statistics
        if out.failing {
            // A destination that refuses everything is a failure of the agent, not a statistic.
            AgentLog.error("the output was failing when the agent stopped (\(out.lastError ?? "unknown error")); "
                           + "\(out.documentsDropped) documents were dropped")
            if status == 0 { status = 3 }
        }
        if telemetry.bpfStatsFD >= 0 { close(telemetry.bpfStatsFD) }
        return status
    }

    /// Runs the reader's batches through the pipeline; returns how many events they held.
    private func handle(_ batches: [[KernelEvent]]) -> Int {
        var n = 0
        for batch in batches {
            for event in batch { pipeline.handle(event) }
            n += batch.count
        }
        return n
    }

    /// One line with every counter a user needs to trust the stream (nothing lost silently).
    public func statisticsLine() -> String {
        let s = pipeline.statistics
        let loss = sensor.lossCounters()
        let out = sink.statistics
        var line = "records=\(s.records) documents=\(s.documents) alerts=\(s.alerts) denied=\(s.denied) redecided=\(s.redecided)"
        line += " processes=\(pipeline.processes.count) containers=\(containers.containerCount)"
        let c = containers.statistics
        line += " container_pending=\(containers.registry.pendingCount) container_undescribed=\(containers.registry.undescribable)"
        line += " container_late=\(c.lateRegistrations) container_write_errors=\(c.writeErrors)"
        line += " volume_mounts=\(containers.volumeMountCount) volume_source_errors=\(c.volumeSourceErrors)"
        if c.completed > 0 {
            line += " container_complete_ms=\(Agent.ms(c.lastCompleteNs))/\(Agent.ms(c.maxCompleteNs))"
        }
        if c.startWindows > 0 {
            line += " container_exec_window_ms=\(Agent.ms(signed: c.lastStartWindowNs))/\(Agent.ms(signed: c.maxStartWindowNs))"
            line += " container_exec_windows=\(c.startWindows)"
        }
        if let k = kubernetes {
            let p = k.podStatistics
            line += " pods=\(containers.registry.podCount) k8s_lists=\(p.lists) k8s_relists_410=\(p.expired)"
            line += " k8s_failures=\(p.failures + k.namespaceStatistics.failures) k8s_dropped=\(UInt64(p.droppedOverCapacity) + inbox.dropped)"
        }
        line += " kernel_lost=\(loss.totalReserveFailures) decode_errors=\(loss.decodeErrors)"
        if let d = drain?.statistics, d.backpressureWaits > 0 {
            line += " ring_backpressure_waits=\(d.backpressureWaits) ring_backpressure_ms=\(Agent.ms(d.backpressureNs))"
        }
        line += " output_written=\(out.documentsWritten) output_dropped=\(out.documentsDropped)"
        if configuration.output == .elasticsearch {
            line += " queued=\(out.documentsQueued) queue_bytes=\(out.queueBytes) dead_lettered=\(out.documentsDeadLettered)"
            line += " retries=\(out.retries)"
        }
        if out.droppedLogs + out.droppedAlerts > 0 {
            line += " dropped_logs=\(out.droppedLogs) dropped_alerts=\(out.droppedAlerts)"
        }
        if out.failing { line += " output_failing=true" }
        if loss.totalReserveFailures > 0 {
            let detail = loss.reserveFailures.filter { $0.value > 0 }.map { "\($0.key)=\($0.value)" }.sorted()
            line += " (lost by type: \(detail.joined(separator: ",")))"
        }
        if let e = out.lastError { line += " output_error=\"\(e)\"" }
        return line
    }

    /// Block actions are in force when the policy in force blocks and the kernel can enforce it.
    var blockActionEnabled: Bool { policy.policy.hasBlockActions && sensor.blockingEnforced }

    private func writeHeartbeat() {
        var line: [UInt8] = []
        let span = heartbeat.write(unixNs: BootClock.nowUnixNs(), blockActionEnabled: blockActionEnabled, into: &line)
        sink.append(line, span: span)
        sink.flush()
    }

    // MARK: policy

    static func loadPolicy(_ path: String?, inline: String? = nil) throws(AgentError) -> Policy {
        do {
            if path == nil, let inline {
                let loaded = try PolicyLoader.parse(yaml: inline, fileName: "<policy_inline>")
                for w in loaded.warnings { AgentLog.warning(w.description) }
                return loaded.policy
            }
            guard let path else { return try DefaultPolicy.load() }
            let loaded = try PolicyLoader.load(path: path)
            for w in loaded.warnings { AgentLog.warning(w.description) }
            return loaded.policy
        } catch {
            throw .policy(error)
        }
    }

    /// `seconds` in nanoseconds, saturating (an interval of years must not overflow; negative is 0).
    static func nanoseconds(seconds: Int) -> UInt64 {
        let (ns, overflow) = UInt64(max(0, seconds)).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? UInt64.max : ns
    }

    /// True when the policy file differs from when it was last read. A file that is missing now
    /// (an `rm && cp` edit in progress) is not a change; its return is.
    func policyFileChanged() -> Bool {
        policyFile?.changed() ?? false
    }

    /// Asks the worker for a reload (the event loop goes on; `install` runs when it is done).
    func requestReload(reason: String) {
        guard let reloader else {
            AgentLog.info("\(reason): running \(policySourceName); nothing to reload")
            return
        }
        noteReload()
        reloader.request(reason: reason)
    }

    /// Re-reads the policy file now, on the caller's thread (tests and tools; the loop uses the worker).
    func reloadPolicy(reason: String) {
        guard let reloader else {
            AgentLog.info("\(reason): running \(policySourceName); nothing to reload")
            return
        }
        noteReload()
        do {
            let loaded = try PolicyLoader.load(path: reloader.path)
            install(.init(reason: reason, outcome: .success((CompiledPolicy(loaded.policy, scope: configuration.scope),
                                                             loaded.warnings))))
        } catch {
            install(.init(reason: reason, outcome: .failure(error)))
        }
    }

    /// What runs when there is no policy file to reload.
    private var policySourceName: String {
        configuration.policyInline != nil ? "policy_inline of the configuration file" : "the built-in default policy"
    }

    /// Remembers the file as about to be read, so an edit from now on triggers another reload. While
    /// the file is missing, the last stamp stays: the file's return is then a change.
    private func noteReload() {
        if let path = configuration.policyPath, let stamp = PolicyFileStamp(path: path) { policyFile = stamp }
    }

    /// Installs a finished load. Invalid: report and keep the policy in force. Valid: swap atomically.
    func install(_ finished: PolicyReloader.Finished) {
        let reason = finished.reason
        let compiled: CompiledPolicy
        switch finished.outcome {
        case .failure(let error):
            reloadsRejected += 1
            AgentLog.error("policy reload (\(reason)) rejected; the previous policy stays in force:\n\(error)")
            telemetry.reloadFailed("\(error)")
            return
        case .success(let loaded):
            for w in loaded.warnings { AgentLog.warning(w.description) }
            compiled = loaded.policy
        }
        do {
            try containers.install(compiled)
        } catch {
            reloadsRejected += 1
            AgentLog.error("policy reload (\(reason)) could not be loaded into the kernel; the previous policy "
                           + "stays in force: \(error)")
            telemetry.reloadFailed("\(error)")
            return
        }
        policy = compiled
        generations.install(compiled, generation: sensor.activeGeneration)
        pipeline.updatePolicies(generations)
        telemetry.reloads += 1
        telemetry.lastReloadError = nil
        AgentLog.info("policy reloaded (\(reason)): \(compiled.policy.summary)")
    }

    // MARK: Kubernetes

    /// Hands what other threads posted to the container state (on the loop's thread).
    func drainInbox() {
        while true {
            let (messages, overflowed) = inbox.take()
            for m in messages {
                switch m {
                case .kubernetes(let update): containers.apply(update)
                }
            }
            if overflowed, let k = kubernetes {
                AgentLog.warning("the agent inbox overflowed; resynchronising pods from the watcher's cache")
                containers.resynchronise(pods: k.cachedPods, clusterID: k.cachedClusterID)
            }
            if messages.isEmpty { return }
        }
    }

    static func startKubernetes(_ settings: KubernetesSettings, inbox: AgentInbox) throws(AgentError) -> KubernetesWatcher {
        let client: KubernetesClientConfiguration
        do { client = try settings.clientConfiguration() } catch { throw .kubernetes(error.description) }
        let api: KubernetesAPI
        do { api = try KubernetesAPI(configuration: client) } catch { throw .kubernetes(error.description) }
        let node = settings.resolvedNodeName()
        let watcher = KubernetesWatcher(api: api, nodeName: node, settings: settings,
                                        log: { AgentLog.warning("kubernetes: \($0)") }) { update in
            inbox.post(.kubernetes(update))
        }
        watcher.start()
        AgentLog.info("kubernetes: watching the pods of node \(node) at \(client.server) (\(client.origin))"
                      + (settings.clusterName.map { ", cluster name \($0)" } ?? ""))
        return watcher
    }

    /// Image selectors need the runtime's state: say so when none of its places can be read (a
    /// DaemonSet without the /run/containerd mount, say).
    static func checkRuntimeState(_ locator: BundleLocator) {
        let roots = locator.containerdRoots + locator.crioRoots + locator.dockerRoots
        let readable = roots.filter { access($0, R_OK | X_OK) == 0 }
        if readable.isEmpty {
            AgentLog.warning("no container runtime state is readable (looked in \(roots.joined(separator: ", "))): "
                             + "container images and pod annotations will be unknown and image selectors cannot match; "
                             + "mount the runtime's state directory or give --containerd-state")
        }
    }

    static func ms(signed ns: Int64) -> String { ns < 0 ? "-" + ms(ns.magnitude) : ms(UInt64(ns)) }

    static func ms(_ ns: UInt64) -> String {
        let tenths = ns / 100_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    // MARK: helpers

    static func detectCloud() -> CloudMetadata? {
        guard let provider = CloudHint.detect() else { return nil }
        let config = CloudMetadataConfig()
        let client = MiniHTTPClient(timeoutMs: config.timeoutMs)
        switch provider {
        case .aws: return CloudMetadataDetector.aws(client, base: config.awsBaseURL)
        case .gcp: return CloudMetadataDetector.gcp(client, base: config.gcpBaseURL)
        case .azure: return CloudMetadataDetector.azure(client, base: config.azureBaseURL)
        }
    }

    static func touch(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) } else { AgentLog.warning("cannot create ready file \(path)") }
    }
}

/// Identity of the policy file's content as last read (mtime, ctime, size, inode), to notice edits
/// and ConfigMap symlink swaps without inotify (ctime also catches a `cp -p` that restores mtime).
struct PolicyFileStamp {
    let path: String
    let mtime: timespec
    let ctime: timespec
    let size: Int
    let inode: UInt

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.path = path
        mtime = st.st_mtim
        ctime = st.st_ctim
        size = Int(st.st_size)
        inode = UInt(st.st_ino)
    }

    func changed() -> Bool {
        guard let now = PolicyFileStamp(path: path) else { return false }
        return now.mtime.tv_sec != mtime.tv_sec || now.mtime.tv_nsec != mtime.tv_nsec || now.size != size
            || now.inode != inode || now.ctime.tv_sec != ctime.tv_sec || now.ctime.tv_nsec != ctime.tv_nsec
    }
}
