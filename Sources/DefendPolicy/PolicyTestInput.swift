import DefendEvents
import Foundation

/// Decodes one line of `defend policy test` input into a `PolicyEvent` (JSONSerialization: this is
/// a dry-run tool, not the agent's hot path). Two shapes are accepted:
///
/// 1. The test shape: `{"type":"file"|"process","operation":…,"targetPath":…,"process":{"executable",
///    "name"},"sessionLeaderInteractive":…,"volume":{"inVolumeMount","isFileMount"},"container":{"id",
///    "imageName","imageFullName","imageTag"}|null,"kubernetes":{"clusterId","clusterName","namespace",
///    "podName","podLabels":{k:v}}|null,"pathTruncated":bool,"pathUnresolved":bool}`. Process
///    operations match `process.executable` (or `targetPath` when that is absent). `pathTruncated`:
///    the path is the first part of a longer one; `pathUnresolved`: it is the tail the kernel could
///    not resolve (taken as is). See `PathState`.
/// 2. An ECS document as the agent writes it (nested objects or dotted keys):
///    - operation: `cloud_defend.operation` when present; else `event.action` fork/exec; for file
///      documents `event.type` creation/change/deletion → create/modify/delete (without it,
///      `event.action`: creation/rename/link → create, modification/open → modify, deletion →
///      delete), and the executable variant when the alert title (`message`) starts with
///      "Executable" (log documents do not say whether the file is executable: plain variants);
///      other actions (`end`) are not operations (`InputError.notAnOperation`);
///    - path: `file.path` (file) or `process.executable` (process), truncated or unresolved
///      (`PathState`) when `cloud_defend.truncated` or `cloud_defend.unresolved` lists that field; name: `process.name`;
///    - interactive: `process.session_leader.interactive`, else `process.interactive`;
///    - container: `container.id`, `container.image.name` (a name with '/' is taken as the full name),
///      `container.image.tag`; Kubernetes: `orchestrator.cluster.id|name`, `orchestrator.namespace`,
///      `orchestrator.resource.name` (pod), `orchestrator.resource.label` (["key:value", …]).
///    A document without `container.id` is a host operation.
///
/// Missing fields mean "unknown" (conditions on them do not match); a missing volume means the
/// target is not on a volume. Paths are normalised lexically (`PathNormalizer`).
public enum PolicyTestInput {
    public struct InputError: Error, Sendable, CustomStringConvertible {
        public var message: String
        /// The line is well-formed but is not a policy operation (an ECS `end` event, say).
        public var notAnOperation: Bool
        public var description: String { message }
        init(_ message: String, notAnOperation: Bool = false) { self.message = message; self.notAnOperation = notAnOperation }
    }

    /// Longest input line accepted (an ECS document is a few KiB).
    public static let maxLineBytes = 1 << 20

    public static func parse(line: String) throws(InputError) -> PolicyEvent {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        } catch {
            // The parser's own sentence ("Unexpected character … around line 1, column 3."), never an error dump.
            throw InputError("not JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "the line is not a JSON object")")
        }
        guard let doc = object as? [String: Any] else { throw InputError("expected a JSON object") }
        let ecs = doc["event"] != nil || doc["event.category"] != nil || doc["event.action"] != nil
        return ecs ? try fromECS(doc) : try fromTestShape(doc)
    }

    // MARK: test shape

    static func fromTestShape(_ d: [String: Any]) throws(InputError) -> PolicyEvent {
        guard let opName = d["operation"] as? String else { throw InputError("missing \"operation\"") }
        guard let op = PolicyOperation(policyName: opName) else {
            throw InputError("unknown operation \"\(opName)\" (expected one of \(PolicyOperation.allCases.map(\.policyName).joined(separator: ", ")))")
        }
        if let type = d["type"] {
            guard let t = type as? String, t == "file" || t == "process" else {
                throw InputError("\"type\" must be \"file\" or \"process\"")
            }
            if t != op.section.key { throw InputError("operation \(opName) is a \(op.section.key) operation but \"type\" is \"\(t)\"") }
        }
        let process = try object(d, "process")
        var path = try string(d, "targetPath")
        if op.section == .process { path = try string(process, "executable") ?? path }
        let state: PathState = try bool(d, "pathUnresolved") == true ? .unresolved
            : (try bool(d, "pathTruncated") == true ? .truncated : .complete)
        var e = PolicyEvent(operation: op, path: state == .unresolved ? path : try normalized(path),
                            processName: try string(process, "name"),
                            interactive: try bool(d, "sessionLeaderInteractive"), pathState: state)
        if let v = try object(d, "volume") {
            e.volume = VolumeState(inVolumeMount: try bool(v, "inVolumeMount") ?? false,
                                   isFileMount: try bool(v, "isFileMount") ?? false)
        }
        if let c = try object(d, "container") {
            var ctx = ContainerContext(id: try string(c, "id") ?? "", imageName: try string(c, "imageName"),
                                       imageFullName: try string(c, "imageFullName"), imageTag: try string(c, "imageTag"))
            if let k = try object(d, "kubernetes") {
                var labels: [String: String] = [:]
                if let raw = k["podLabels"], !(raw is NSNull) {
                    guard let l = raw as? [String: Any] else { throw InputError("\"kubernetes.podLabels\" must be an object") }
                    for (key, value) in l {
                        guard let s = value as? String else { throw InputError("pod label \"\(key)\" must be a string") }
                        labels[key] = s
                    }
                }
                ctx.kubernetes = KubernetesContext(clusterID: try string(k, "clusterId"), clusterName: try string(k, "clusterName"),
                                                   namespace: try string(k, "namespace"), podName: try string(k, "podName"),
                                                   podLabels: labels)
            }
            e.container = ctx
        }
        return e
    }

    // MARK: ECS

    static func fromECS(_ d: [String: Any]) throws(InputError) -> PolicyEvent {
        let category = try firstString(d, "event.category")
        let action = try firstString(d, "event.action")
        let op: PolicyOperation
        if let name = try ecsString(d, "cloud_defend.operation") {
            guard let o = PolicyOperation(policyName: name) else { throw InputError("unknown cloud_defend.operation \"\(name)\"") }
            op = o
        } else {
            switch action {
            case "fork": op = .fork
            case "exec": op = .exec
            case "creation", "modification", "deletion", "rename", "link", "open":
                op = try fileOperation(d, action: action ?? "")
            case let a?: throw InputError("event.action \"\(a)\" is not a policy operation", notAnOperation: true)
            case nil: throw InputError("missing event.action (and cloud_defend.operation)")
            }
        }
        if let category, category != op.section.key {
            throw InputError("event.category \"\(category)\" does not fit operation \(op.policyName)")
        }
        let path = op.section == .file ? try ecsString(d, "file.path") : try ecsString(d, "process.executable")
        var interactive = try ecsBool(d, "process.session_leader.interactive")
        if interactive == nil { interactive = try ecsBool(d, "process.interactive") }
        func listed(_ key: String) -> Bool {
            let fields = (lookup(d, key) as? [Any])?.compactMap { $0 as? String } ?? []
            return fields.contains(op.section == .file ? "file.path" : "process.executable")
        }
        let state: PathState = listed("cloud_defend.unresolved") ? .unresolved : (listed("cloud_defend.truncated") ? .truncated : .complete)
        var e = PolicyEvent(operation: op, path: state == .unresolved ? path : try normalized(path),
                            processName: try ecsString(d, "process.name"), interactive: interactive,
                            pathState: state)
        if let id = try ecsString(d, "container.id") {
            let image = try ecsString(d, "container.image.name")
            let full = image.flatMap { $0.contains("/") ? $0 : nil }
            var ctx = ContainerContext(id: id, imageName: full == nil ? image : ImageReference.shortName(full ?? ""),
                                       imageFullName: full, imageTag: try ecsString(d, "container.image.tag"))
            let cluster = try ecsString(d, "orchestrator.cluster.id"), clusterName = try ecsString(d, "orchestrator.cluster.name")
            let ns = try ecsString(d, "orchestrator.namespace"), pod = try ecsString(d, "orchestrator.resource.name")
            var labels: [String: String] = [:]
            if let raw = lookup(d, "orchestrator.resource.label") {
                let items = (raw as? [Any]) ?? [raw]
                for item in items {
                    guard let s = item as? String, let colon = s.firstIndex(of: ":") else {
                        throw InputError("orchestrator.resource.label items must be \"key:value\" strings")
                    }
                    labels[String(s[..<colon])] = String(s[s.index(after: colon)...])
                }
            }
            if cluster != nil || clusterName != nil || ns != nil || pod != nil || !labels.isEmpty {
                ctx.kubernetes = KubernetesContext(clusterID: cluster, clusterName: clusterName, namespace: ns,
                                                   podName: pod, podLabels: labels)
            }
            e.container = ctx
        }
        return e
    }

    /// File operation of an agent ECS document: `event.type` says creation/change/deletion (the
    /// policy operation; `event.action` names the hook), and the alert title (`message`) of
    /// executable operations starts with "Executable". Without `event.type`, `event.action` decides:
    /// creation/rename/link -> create, deletion -> delete, modification/open -> modify.
    static func fileOperation(_ d: [String: Any], action: String) throws(InputError) -> PolicyOperation {
        var types: [String] = []
        if let v = lookup(d, "event.type") {
            if let s = v as? String { types = [s] } else if let a = v as? [Any] { types = a.compactMap { $0 as? String } }
        }
        let executable = (try ecsString(d, "message"))?.hasPrefix("Executable") ?? false
        let kind: String
        if types.contains("deletion") { kind = "delete" }
        else if types.contains("creation") { kind = "create" }
        else if types.contains("change") { kind = "modify" }
        else {
            switch action {
            case "creation", "rename", "link": kind = "create"
            case "deletion": kind = "delete"
            default: kind = "modify"
            }
        }
        switch kind {
        case "delete": return .deleteFile
        case "create": return executable ? .createExecutable : .createFile
        default: return executable ? .modifyExecutable : .modifyFile
        }
    }

    /// A value by dotted path, trying nested objects first and then a flat dotted key.
    static func lookup(_ d: [String: Any], _ dotted: String) -> Any? {
        if let flat = d[dotted], !(flat is NSNull) { return flat }
        let parts = dotted.split(separator: ".").map(String.init)
        for split in stride(from: parts.count - 1, through: 1, by: -1) {
            let head = parts[0..<split].joined(separator: "."), tail = parts[split...].joined(separator: ".")
            if let inner = d[head] as? [String: Any], let v = lookup(inner, tail) { return v }
        }
        return nil
    }

    static func ecsString(_ d: [String: Any], _ key: String) throws(InputError) -> String? {
        guard let v = lookup(d, key) else { return nil }
        guard let s = v as? String else { throw InputError("\(key) must be a string") }
        return s
    }

    static func firstString(_ d: [String: Any], _ key: String) throws(InputError) -> String? {
        guard let v = lookup(d, key) else { return nil }
        if let s = v as? String { return s }
        if let a = v as? [Any], let s = a.first as? String { return s }
        throw InputError("\(key) must be a string or a list of strings")
    }

    static func ecsBool(_ d: [String: Any], _ key: String) throws(InputError) -> Bool? {
        guard let v = lookup(d, key) else { return nil }
        guard let b = v as? Bool else { throw InputError("\(key) must be true or false") }
        return b
    }

    // MARK: helpers

    static func normalized(_ path: String?) throws(InputError) -> String? {
        guard let path else { return nil }
        guard let n = PathNormalizer.normalize(path) else { throw InputError("path \"\(path)\" is not absolute") }
        return n
    }

    static func object(_ d: [String: Any]?, _ key: String) throws(InputError) -> [String: Any]? {
        guard let v = d?[key], !(v is NSNull) else { return nil }
        guard let o = v as? [String: Any] else { throw InputError("\"\(key)\" must be an object or null") }
        return o
    }

    static func string(_ d: [String: Any]?, _ key: String) throws(InputError) -> String? {
        guard let v = d?[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw InputError("\"\(key)\" must be a string or null") }
        return s
    }

    static func bool(_ d: [String: Any]?, _ key: String) throws(InputError) -> Bool? {
        guard let v = d?[key], !(v is NSNull) else { return nil }
        guard let b = v as? Bool else { throw InputError("\"\(key)\" must be true or false") }
        return b
    }
}
