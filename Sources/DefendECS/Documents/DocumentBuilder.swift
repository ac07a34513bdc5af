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
    private let scratch = ByteBuffer(capacity: 64 * 1024)
    private let fragments = FragmentCache()
    private let containerFragments = ContainerFragmentCache()
    private let templates = EventTemplates()
    private let hookPoints = HookPointLists()
    private let spans = SpanScratch()

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
        let n = render(event: event, process: process, container: container, matchedSelectors: matchedSelectors)
        if n > 0 { scratch.copy(into: &buffer) }
        return n
    }

    /// Like `write(into:)` without the copy: `body` receives the NDJSON lines (valid only during the
    /// call) and how many documents they are; not called when the event yields no document.
    /// Returns the number of documents.
    @discardableResult
    public mutating func withDocuments(event: KernelEvent, process: ProcessView?, container: ContainerContext?,
                                       matchedSelectors: [String],
                                       _ body: (UnsafeRawBufferPointer, Int) -> Void) -> Int {
        let n = render(event: event, process: process, container: container, matchedSelectors: matchedSelectors)
        if n > 0 { body(UnsafeRawBufferPointer(start: scratch.state.pointee.base, count: scratch.count), n) }
        return n
    }

    /// Like `withDocuments`, with each document's span (length, data stream, `event.id` offset).
    @discardableResult
    public mutating func withDocumentSpans(event: KernelEvent, process: ProcessView?, container: ContainerContext?,
                                           matchedSelectors: [String],
                                           _ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<DocumentSpan>) -> Void)
        -> Int {
        let n = render(event: event, process: process, container: container, matchedSelectors: matchedSelectors)
        if n > 0 {
            body(UnsafeRawBufferPointer(start: scratch.state.pointee.base, count: scratch.count),
                 UnsafeBufferPointer(start: spans.storage, count: n))
        }
        return n
    }

    private mutating func render(event: KernelEvent, process: ProcessView?, container: ContainerContext?,
                                 matchedSelectors: [String]) -> Int {
        guard let view = process, let desc = EventDescription.describe(event) else { return 0 }
        var actions = event.decision.actions
        if case .exit = event.record, view.process.reportedActions.contains(.log) { actions.insert(.log) }
        let denied = event.decision.denied
        let wantsLog = actions.contains(.log)
        let wantsAlert = actions.contains(.alert) || actions.contains(.block) || denied
        guard wantsLog || wantsAlert else { return 0 }

        scratch.removeAll()
        var w = JSONWriter(buffer: scratch, maxStringBytes: config.maxStringBytes)
        let created = nowUnixNs()
        var n = 0
        if wantsLog {
            spans.storage[n] = document(&w, event, view, container, matchedSelectors, desc, alert: false,
                                        denied: denied, created: created)
            n += 1
        }
        if wantsAlert {
            spans.storage[n] = document(&w, event, view, container, matchedSelectors, desc, alert: true,
                                        denied: denied, created: created)
            n += 1
        }
        return n
    }

    private mutating func document(_ w: inout JSONWriter, _ event: KernelEvent, _ view: ProcessView,
                                   _ container: ContainerContext?, _ selectors: [String],
                                   _ desc: EventDescription, alert: Bool, denied: Bool, created: Int64) -> DocumentSpan {
        let p = view.process
        let start = w.buffer.count
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
            w.rawValue(hookPoints.list(mask: mask))
        } else {
            w.rawValue(hookPoints.single(event.hook))
        }
        w.key("matched_selectors"); w.stringArray(selectors, maxCount: 64, maxTotalBytes: 64 * 130)
        Self.writePathMarkers(&w, event.record, argsTruncated: p.argsTruncated || argsCut(p.args))
        Self.writeDeletedMarkers(&w, p)
        w.endObject()

        // data_stream
        w.rawMembers(alert ? alertStream : (desc.isProcess ? processStream : fileStream))

        // event (+ message): three prebuilt runs around the two per-event values
        let t = templates.template(desc, alert: alert, denied: denied)
        w.appendRaw(t.beforeCreated, comma: true)
        w.timestamp(unixNs: created)
        w.appendRaw(t.beforeID, comma: false)
        w.rawString(maxBytes: 36) { ids.write(to: $0) }
        let idOffset = w.buffer.count - 1 - DocumentSpan.idLength - start
        w.appendRaw(t.rest, comma: false, complete: true)

        if let c = container { w.rawMembers(containerFragment(c)) }

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
        writeProcess(&w, view, p, isEnd: isEnd)
        w.object("user"); w.key("id"); w.decimalString(UInt64(p.euid)); w.endObject()
        w.endObject()
        w.newline()
        return DocumentSpan(length: Int32(w.buffer.count - start), idOffset: Int32(idOffset),
                            stream: alert ? .alerts : (desc.isProcess ? .process : .file))
    }

    /// `container` and `orchestrator`, serialised once per container description (the pod's labels and
    /// annotations are sorted and joined there): documents of the same container repeat them.
    private func containerFragment(_ c: ContainerContext) -> [UInt8] {
        if let cached = containerFragments.lookup(c) { return cached }
        let buf = containerFragments.scratch
        buf.removeAll()
        var w = JSONWriter(buffer: buf, maxStringBytes: config.maxStringBytes)
        writeContainer(&w, c)
        let bytes = buf.bytes
        containerFragments.store(c, bytes: bytes)
        return bytes
    }

    /// `truncated`: fields that hold only the first part of a longer value (a path longer than
    /// PATH_MAX, argv beyond what is carried); `unresolved`: paths the kernel could not resolve from
    /// the mount namespace's root (the value is the resolved tail, not an absolute path). Written only
    /// when not empty, so that a cut value is never mistaken for a whole one.
    static func writePathMarkers(_ w: inout JSONWriter, _ record: KernelRecord, argsTruncated: Bool) {
        var truncated: [String] = [], unresolved: [String] = []
        switch record {
        case .file(let f):
            if f.pathTruncated { truncated.append("file.path") }
            if f.pathUnresolved { unresolved.append("file.path") }
            if f.oldPathTruncated { truncated.append("file.Ext.original.path") }
            if f.oldPathUnresolved { unresolved.append("file.Ext.original.path") }
        case .exec(let r):
            if r.filenameTruncated { truncated.append("process.executable") }
            if r.filenameUnresolved { unresolved.append("process.executable") }
            if r.cwdTruncated { truncated.append("process.working_directory") }
            if r.cwdUnresolved { unresolved.append("process.working_directory") }
        default:
            break
        }
        if argsTruncated { truncated.append("process.args") }
        if !truncated.isEmpty { w.key("truncated"); w.stringArray(truncated, maxCount: 8, maxTotalBytes: 256) }
        if !unresolved.isEmpty { w.key("unresolved"); w.stringArray(unresolved, maxCount: 8, maxTotalBytes: 256) }
    }

    /// `deleted`: the subject's executable or working directory has no name left (unlinked or removed
    /// after it was started or entered); the field holds the name it had.
    static func writeDeletedMarkers(_ w: inout JSONWriter, _ p: ProcessEntry) {
        guard p.executableDeleted || p.workingDirectoryDeleted else { return }
        w.key("deleted")
        switch (p.executableDeleted, p.workingDirectoryDeleted) {
        case (true, true): w.stringArray(["process.executable", "process.working_directory"], maxCount: 2, maxTotalBytes: 64)
        case (true, false): w.stringArray(["process.executable"], maxCount: 1, maxTotalBytes: 64)
        default: w.stringArray(["process.working_directory"], maxCount: 1, maxTotalBytes: 64)
        }
    }

    /// The document's `process.args` would hold fewer arguments, or fewer bytes, than the process has.
    private func argsCut(_ args: [String]) -> Bool {
        if args.count > config.maxArgs { return true }
        var total = 0
        for a in args {
            total += a.utf8.count
            if total > config.maxArgsBytes { return true }
        }
        return false
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
        if let v = k.podIP { w.key("ip"); w.stringArray([v], maxCount: 1, maxTotalBytes: 64) }
        if let v = k.podName { w.key("name"); w.string(v) }
        if let v = k.ownerKind { w.object("parent"); w.key("type"); w.string(v); w.endObject() }
        w.key("type"); w.rawString("pod")
        w.endObject()
        w.key("type"); w.rawString("kubernetes")
        w.endObject()
    }

    private func writeProcess(_ w: inout JSONWriter, _ view: ProcessView, _ p: ProcessEntry, isEnd: Bool) {
        w.object("process")
        // the subject changes with every event: written in place (not cached); a relative that is the
        // subject itself (group leader, session leader...) copies these bytes
        let subjectStart = w.buffer.count
        writeFragment(&w, p)
        let subject = subjectStart..<w.buffer.count
        if isEnd, let end = p.endBootNs { w.key("end"); w.timestamp(unixNs: clock.unixNs(bootNs: end)) }
        if let rel = view.entryLeader { relative(&w, "entry_leader", rel, p, subject, entryType: view.entryLeaderType ?? .unknown) }
        if isEnd, let code = p.exitCode { w.key("exit_code"); w.int(Int64(code)) }
        if let rel = view.groupLeader { relative(&w, "group_leader", rel, p, subject, entryType: nil) }
        if let rel = view.parent { relative(&w, "parent", rel, p, subject, entryType: nil) }
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
        if let rel = view.sessionLeader { relative(&w, "session_leader", rel, p, subject, entryType: nil) }
        if p.ttyMajor != 0 {
            w.object("tty"); w.object("char_device")
            w.key("major"); w.int(Int64(p.ttyMajor)); w.key("minor"); w.int(Int64(p.ttyMinor))
            w.endObject(); w.endObject()
        }
        w.endObject()
    }

    private func relative(_ w: inout JSONWriter, _ key: StaticString, _ r: ProcessEntry, _ p: ProcessEntry,
                          _ subject: Range<Int>, entryType: EntryLeaderType?) {
        w.object(key)
        let same = r.pid == p.pid && r.startBootNs == p.startBootNs
        if same, r.revision == p.revision {
            w.copyWithin(subject)
        } else {
            w.rawMembers(fragment(r))
        }
        if let t = entryType { w.object("entry_meta"); w.key("type"); w.string(t.rawValue); w.endObject() }
        w.key("same_as_process"); w.bool(same)
        w.endObject()
    }

    /// The members every process object shares (args, entity_id, executable, group.id, interactive, name,
    /// pid, start, user.id, working_directory), serialised once per process revision: relatives repeat
    /// in document after document, so they are copied rather than re-escaped.
    private func fragment(_ e: ProcessEntry) -> [UInt8] {
        if e.revision != 0, let cached = fragments.lookup(pid: e.pid, start: e.startBootNs, revision: e.revision) {
            return cached
        }
        let buf = fragments.scratch
        buf.removeAll()
        var w = JSONWriter(buffer: buf, maxStringBytes: config.maxStringBytes)
        writeFragment(&w, e)
        let bytes = buf.bytes
        if e.revision != 0 { fragments.store(pid: e.pid, start: e.startBootNs, revision: e.revision, bytes: bytes) }
        return bytes
    }

    private func writeFragment(_ w: inout JSONWriter, _ e: ProcessEntry) {
        w.key("args"); w.stringArray(e.args, maxCount: config.maxArgs, maxTotalBytes: config.maxArgsBytes)
        w.key("args_count"); w.int(Int64(e.argsCount))
        w.key("entity_id"); w.string(e.entityID)
        if let v = e.executable { w.key("executable"); w.string(v) }
        w.object("group"); w.key("id"); w.decimalString(UInt64(e.egid)); w.endObject()
        w.key("interactive"); w.bool(e.interactive)
        w.key("name"); w.string(e.name)
        w.key("pid"); w.int(Int64(e.pid))
        if e.startBootNs != 0 { w.key("start"); w.timestamp(unixNs: clock.unixNs(bootNs: e.startBootNs)) }
        w.object("user"); w.key("id"); w.decimalString(UInt64(e.euid)); w.endObject()
        if let v = e.workingDirectory { w.key("working_directory"); w.string(v) }
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

/// The `event` object and `message` of each kind of document, prebuilt on first use and split around
/// `event.created` and `event.id`: `"event":{"action":..,"category":[..],"created":` | `,"dataset":..,"id":` |
/// `,"kind":..,"module":..,["outcome":"failure",]"type":[..]}[,"message":..]`.
final class EventTemplates {
    struct Template { var beforeCreated: [UInt8]; var beforeID: [UInt8]; var rest: [UInt8] }
    private var slots: [Template?] = Array(repeating: nil, count: EventDescription.codeCount * 4)

    func template(_ d: EventDescription, alert: Bool, denied: Bool) -> Template {
        let i = d.code * 4 + (alert ? 2 : 0) + (denied ? 1 : 0)
        if let t = slots[i] { return t }
        let t = Self.build(d, alert: alert, denied: denied)
        slots[i] = t
        return t
    }

    private static func build(_ d: EventDescription, alert: Bool, denied: Bool) -> Template {
        func text(_ s: String) -> [UInt8] { Array(s.utf8) }
        let category = d.isProcess ? "process" : "file"
        let dataset = alert ? "cloud_defend.alerts" : d.isProcess ? "cloud_defend.process" : "cloud_defend.file"
        var rest = ",\"kind\":\"\(alert ? "alert" : "event")\",\"module\":\"cloud_defend\","
        if denied { rest += "\"outcome\":\"failure\"," }
        rest += "\"type\":[\"\(d.type)\"\(denied ? ",\"denied\"" : "")]}"
        if alert { rest += ",\"message\":\"\(denied ? d.blockedTitle : d.alertTitle)\"" }
        return Template(beforeCreated: text("\"event\":{\"action\":\"\(d.action)\",\"category\":[\"\(category)\"],\"created\":"),
                        beforeID: text(",\"dataset\":\"\(dataset)\",\"id\":"), rest: text(rest))
    }
}

/// `cloud_defend.hook_point` values as JSON, built once per hook mask (a handful occur) and per hook.
final class HookPointLists {
    private var lists: [UInt32: [UInt8]] = [:]
    private var last: (mask: UInt32, bytes: [UInt8]) = (.max, [])
    private let singles: [[UInt8]] = (0..<32).map { i in
        Array("\"\(HookPoint(rawValue: UInt32(i))?.ecsName ?? "none")\"".utf8)
    }

    func single(_ hook: HookPoint) -> [UInt8] { singles[Int(hook.rawValue & 31)] }

    func list(mask: UInt32) -> [UInt8] {
        if last.mask == mask { return last.bytes }
        let bytes: [UInt8]
        if let cached = lists[mask] {
            bytes = cached
        } else {
            var w = JSONWriter(buffer: ByteBuffer(capacity: 256))
            w.beginArray()
            var m = mask
            while m != 0 {
                if let hook = HookPoint(rawValue: UInt32(m.trailingZeroBitCount)) { w.string(hook.ecsName) }
                m &= m - 1
            }
            w.endArray()
            bytes = w.bytes
            lists[mask] = bytes
        }
        last = (mask, bytes)
        return bytes
    }
}

/// Serialised process fragments by pid, valid for one (start, revision); bounded by clearing.
final class FragmentCache {
    private struct Entry { var start: UInt64; var revision: UInt64; var bytes: [UInt8] }
    private var entries: [Int32: Entry] = [:]
    let scratch = ByteBuffer(capacity: 16 * 1024)
    var limit = 16_384

    func lookup(pid: Int32, start: UInt64, revision: UInt64) -> [UInt8]? {
        guard let e = entries[pid], e.start == start, e.revision == revision else { return nil }
        return e.bytes
    }

    func store(pid: Int32, start: UInt64, revision: UInt64, bytes: [UInt8]) {
        if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
        entries[pid] = Entry(start: start, revision: revision, bytes: bytes)
    }
}

/// Serialised `container` + `orchestrator` members by container id, valid while the description is
/// the same (compared whole: a pod update, a late image or the cluster id gives new bytes).
final class ContainerFragmentCache {
    private struct Entry { var context: ContainerContext; var bytes: [UInt8] }
    private var entries: [String: Entry] = [:]
    let scratch = ByteBuffer(capacity: 8 * 1024)
    var limit = 4096

    func lookup(_ c: ContainerContext) -> [UInt8]? {
        guard let e = entries[c.id], e.context == c else { return nil }
        return e.bytes
    }

    func store(_ c: ContainerContext, bytes: [UInt8]) {
        if entries[c.id] == nil, entries.count >= limit { entries.removeAll(keepingCapacity: true) }
        entries[c.id] = Entry(context: c, bytes: bytes)
    }
}

/// Spans of the documents of one event (at most two: log and alert), reused across events.
final class SpanScratch {
    let storage = UnsafeMutablePointer<DocumentSpan>.allocate(capacity: 4)
    init() { storage.initialize(repeating: DocumentSpan(length: 0, idOffset: -1, stream: .process), count: 4) }
    deinit { storage.deallocate() }
}
