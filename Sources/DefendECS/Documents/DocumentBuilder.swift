import DefendEvents
import DefendEnrich

/// Turns one kernel event, with its process view and container, into ECS NDJSON lines.
///
/// Streams: `log` -> `logs-cloud_defend.process-<ns>` or `logs-cloud_defend.file-<ns>` (`event.kind: event`);
/// `alert` (or `block`, or a denied operation) -> `logs-cloud_defend.alerts-<ns>` (`event.kind: alert`, with
/// `message`). An operation with both writes one document to each. A denied operation has `denied` in
/// `event.type` and `event.outcome: failure` in every document. `end` documents follow a logged start:
/// a process whose fork/exec was logged gets its `end` logged even when the exit record carries no action.
/// Rename/link sources are in `file.Ext.original.{path,name}`.
public struct DocumentBuilder {
    public let clock: BootClock
    public let config: DocumentConfig
    /// Wall clock for `event.created` (injectable for tests).
    public var nowUnixNs: @Sendable () -> Int64
    private var ids: EventIDGenerator
    private let staticMembers: [UInt8]
    private let processStream: [UInt8]
    private let fileStream: [UInt8]
    private let alertStream: [UInt8]
    private let cloudDefendStatic: [UInt8]

    public init(agent: AgentMetadata, host: HostMetadata, cloud: CloudMetadata?, clock: BootClock,
                config: DocumentConfig = DocumentConfig(),
                nowUnixNs: @escaping @Sendable () -> Int64 = { BootClock.nowUnixNs() },
                idGenerator: EventIDGenerator = EventIDGenerator()) {
        self.clock = clock
        self.config = config
        self.nowUnixNs = nowUnixNs
        self.ids = idGenerator
        staticMembers = StaticFragments.members(agent: agent, host: host, cloud: cloud, config: config)
        processStream = StaticFragments.dataStream(.process, namespace: config.namespace)
        fileStream = StaticFragments.dataStream(.file, namespace: config.namespace)
        alertStream = StaticFragments.dataStream(.alerts, namespace: config.namespace)
        var w = JSONWriter()
        w.beginObject()
        if let id = config.packagePolicyID { w.key("package_policy_id"); w.string(id) }
        if let rev = config.packagePolicyRevision { w.key("package_policy_revision"); w.int(Int64(rev)) }
        w.endObject()
        cloudDefendStatic = StaticFragments.stripBraces(w.bytes)
    }

    /// Appends the documents for `event` (one NDJSON line each) to `buffer`; returns how many.
    /// `process` is the view `ProcessTable.apply` returned for this event; `matchedSelectors` are the
    /// selector names the policy reported (declaration order).
    @discardableResult
    public mutating func write(event: KernelEvent, process: ProcessView?, container: ContainerContext?,
                               matchedSelectors: [String], into buffer: inout [UInt8]) -> Int {
        guard let view = process, let desc = EventDescription.describe(event) else { return 0 }
        var actions = event.decision.actions
        if case .exit = event.record, view.process.reportedActions.contains(.log) { actions.insert(.log) }
        let denied = event.decision.denied
        let wantsLog = actions.contains(.log)
        let wantsAlert = actions.contains(.alert) || actions.contains(.block) || denied
        guard wantsLog || wantsAlert else { return 0 }

        var w = JSONWriter(maxStringBytes: config.maxStringBytes)
        swap(&w.bytes, &buffer)
        defer { swap(&w.bytes, &buffer) }
        let created = nowUnixNs()
        var n = 0
        if wantsLog {
            document(&w, event, view, container, matchedSelectors, desc, alert: false, denied: denied, created: created)
            n += 1
        }
        if wantsAlert {
            document(&w, event, view, container, matchedSelectors, desc, alert: true, denied: denied, created: created)
            n += 1
        }
        return n
    }

    private mutating func document(_ w: inout JSONWriter, _ event: KernelEvent, _ view: ProcessView,
                                   _ container: ContainerContext?, _ selectors: [String],
                                   _ desc: EventDescription, alert: Bool, denied: Bool, created: Int64) {
        let p = view.process
        w.beginObject()
        w.key("@timestamp"); w.timestamp(unixNs: clock.unixNs(bootNs: event.bootTimeNs))
        w.rawMembers(staticMembers)

        // cloud_defend
        w.object("cloud_defend")
        w.rawMembers(cloudDefendStatic)
        w.key("hook_point")
        if desc.isProcess {
            var mask = p.hookMask
            if event.hook.rawValue < 32 { mask |= 1 << event.hook.rawValue }
            w.beginArray()
            while mask != 0 {
                if let hook = HookPoint(rawValue: UInt32(mask.trailingZeroBitCount)) { w.string(hook.ecsName) }
                mask &= mask - 1
            }
            w.endArray()
        } else {
            w.string(event.hook.ecsName)
        }
        w.key("matched_selectors"); w.stringArray(selectors, maxCount: 64, maxTotalBytes: 64 * 130)
        w.endObject()

        // data_stream
        w.rawMembers(alert ? alertStream : (desc.isProcess ? processStream : fileStream))

        // event
        w.object("event")
        w.key("action"); w.rawString(desc.action)
        w.key("category"); w.beginArray(); if desc.isProcess { w.rawString("process") } else { w.rawString("file") }; w.endArray()
        w.key("created"); w.timestamp(unixNs: created)
        w.key("dataset")
        if alert { w.rawString("cloud_defend.alerts") } else if desc.isProcess { w.rawString("cloud_defend.process") } else { w.rawString("cloud_defend.file") }
        w.key("id"); w.beginQuotedRaw(); ids.append(to: &w.bytes); w.endQuotedRaw()
        w.key("kind"); if alert { w.rawString("alert") } else { w.rawString("event") }
        w.key("module"); w.rawString("cloud_defend")
        if denied { w.key("outcome"); w.rawString("failure") }
        w.key("type"); w.beginArray(); w.rawString(desc.type); if denied { w.rawString("denied") }; w.endArray()
        w.endObject()

        if alert { w.key("message"); w.rawString(denied ? desc.blockedTitle : desc.alertTitle) }

        if let c = container { writeContainer(&w, c) }

        // file
        if case .file(let f) = event.record {
            w.object("file")
            let name = Self.basename(f.path)
            if let ext = Self.fileExtension(name) { w.key("extension"); w.string(ext) }
            w.key("name"); w.string(name)
            w.key("path"); w.string(f.path)
            if let old = f.oldPath, !old.isEmpty {
                w.object("Ext"); w.object("original")
                w.key("name"); w.string(Self.basename(old))
                w.key("path"); w.string(old)
                w.endObject(); w.endObject()
            }
            w.endObject()
        }

        w.object("group"); w.key("id"); w.decimalString(UInt64(p.egid)); w.endObject()
        var isEnd = false
        if case .exit = event.record { isEnd = true }
        writeProcess(&w, view, isEnd: isEnd)
        w.object("user"); w.key("id"); w.decimalString(UInt64(p.euid)); w.endObject()
        w.endObject()
        w.newline()
    }

    private func writeContainer(_ w: inout JSONWriter, _ c: ContainerContext) {
        w.object("container")
        w.key("id"); w.string(c.id)
        if c.imageName != nil || c.imageTag != nil {
            w.object("image")
            if let v = c.imageName { w.key("name"); w.string(v) }
            if let v = c.imageTag { w.key("tag"); w.string(v) }
            w.endObject()
        }
        w.endObject()
        guard let k = c.kubernetes else { return }
        w.object("orchestrator")
        if k.clusterID != nil || k.clusterName != nil {
            w.object("cluster")
            if let v = k.clusterID { w.key("id"); w.string(v) }
            if let v = k.clusterName { w.key("name"); w.string(v) }
            w.endObject()
        }
        if let v = k.namespace { w.key("namespace"); w.string(v) }
        w.object("resource")
        if !k.podAnnotations.isEmpty {
            w.key("annotation")
            w.stringArray(k.podAnnotations.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" },
                          maxCount: 256, maxTotalBytes: 32 * 1024)
        }
        if !k.podLabels.isEmpty {
            w.key("label")
            w.stringArray(k.podLabels.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" },
                          maxCount: 256, maxTotalBytes: 32 * 1024)
        }
        if let v = k.podName { w.key("name"); w.string(v) }
        w.key("type"); w.rawString("pod")
        w.endObject()
        w.key("type"); w.rawString("kubernetes")
        w.endObject()
    }

    private func writeProcess(_ w: inout JSONWriter, _ view: ProcessView, isEnd: Bool) {
        let p = view.process
        w.object("process")
        w.key("args"); w.stringArray(p.args, maxCount: config.maxArgs, maxTotalBytes: config.maxArgsBytes)
        if isEnd, let end = p.endBootNs { w.key("end"); w.timestamp(unixNs: clock.unixNs(bootNs: end)) }
        w.key("entity_id"); w.string(p.entityID)
        if let rel = view.entryLeader { relative(&w, "entry_leader", rel, view, entryType: view.entryLeaderType ?? .unknown) }
        if let v = p.executable { w.key("executable"); w.string(v) }
        if isEnd, let code = p.exitCode { w.key("exit_code"); w.int(Int64(code)) }
        w.object("group"); w.key("id"); w.decimalString(UInt64(p.egid)); w.endObject()
        if let rel = view.groupLeader { relative(&w, "group_leader", rel, view, entryType: nil) }
        w.key("interactive"); w.bool(p.interactive)
        w.key("name"); w.string(p.name)
        if let rel = view.parent { relative(&w, "parent", rel, view, entryType: nil) }
        w.key("pid"); w.int(Int64(p.pid))
        if !p.previous.isEmpty {
            w.array("previous")
            for img in p.previous {
                w.beginObject()
                w.key("args"); w.stringArray(img.args, maxCount: config.maxArgs, maxTotalBytes: config.maxArgsBytes)
                if let v = img.executable { w.key("executable"); w.string(v) }
                w.endObject()
            }
            w.endArray()
        }
        if let rel = view.sessionLeader { relative(&w, "session_leader", rel, view, entryType: nil) }
        if p.startBootNs != 0 { w.key("start"); w.timestamp(unixNs: clock.unixNs(bootNs: p.startBootNs)) }
        if p.ttyMajor != 0 {
            w.object("tty"); w.object("char_device")
            w.key("major"); w.int(Int64(p.ttyMajor)); w.key("minor"); w.int(Int64(p.ttyMinor))
            w.endObject(); w.endObject()
        }
        w.object("user"); w.key("id"); w.decimalString(UInt64(p.euid)); w.endObject()
        if let v = p.workingDirectory { w.key("working_directory"); w.string(v) }
        w.endObject()
    }

    private func relative(_ w: inout JSONWriter, _ key: StaticString, _ r: ProcessEntry, _ view: ProcessView,
                          entryType: EntryLeaderType?) {
        w.object(key)
        w.key("args"); w.stringArray(r.args, maxCount: config.maxArgs, maxTotalBytes: config.maxArgsBytes)
        w.key("entity_id"); w.string(r.entityID)
        if let t = entryType { w.object("entry_meta"); w.key("type"); w.string(t.rawValue); w.endObject() }
        if let v = r.executable { w.key("executable"); w.string(v) }
        w.object("group"); w.key("id"); w.decimalString(UInt64(r.egid)); w.endObject()
        w.key("interactive"); w.bool(r.interactive)
        w.key("name"); w.string(r.name)
        w.key("pid"); w.int(Int64(r.pid))
        w.key("same_as_process"); w.bool(view.isSameAsProcess(r))
        if r.startBootNs != 0 { w.key("start"); w.timestamp(unixNs: clock.unixNs(bootNs: r.startBootNs)) }
        w.object("user"); w.key("id"); w.decimalString(UInt64(r.euid)); w.endObject()
        if let v = r.workingDirectory { w.key("working_directory"); w.string(v) }
        w.endObject()
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[path.utf8.index(after: slash)...])
    }

    /// Text after the last dot of a name, nil for none, a leading dot only (".bashrc") or a trailing dot.
    static func fileExtension(_ name: String) -> String? {
        guard let dot = name.utf8.lastIndex(of: UInt8(ascii: ".")), dot != name.utf8.startIndex else { return nil }
        let ext = name[name.utf8.index(after: dot)...]
        return ext.isEmpty ? nil : String(ext)
    }
}

extension JSONWriter {
    /// Opens a string whose bytes the caller appends directly (known to need no escaping).
    mutating func beginQuotedRaw() { rawMembers([0x22]) }
    mutating func endQuotedRaw() { bytes.append(0x22) }
}
