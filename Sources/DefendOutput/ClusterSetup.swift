import DefendECS
import Foundation

/// `defend setup`: makes a self-managed cluster ready for the agent's data streams. Checks the
/// cluster (product header, version ≥ 8.0), then puts an ILM policy, the alerts ingest pipeline and
/// one index template per data stream (`data_stream: {}`, ECS mappings of every field the agent
/// writes). Idempotent: each resource carries `_meta.defend_setup_version`; one already at this
/// version is left alone ("found"), an older one is replaced ("updated"), a missing one "created".
/// Runs once at install time, not on a hot path (Foundation JSON is fine here).
public enum ClusterSetup {
    /// Bump when any resource below changes.
    public static let setupVersion = 1
    public static let ilmPolicy = "cloud_defend-defend"
    public static let alertsPipeline = "logs-cloud_defend.alerts-defend"
    /// Above the built-in `logs`/`metrics` templates (100), below Fleet's integration templates (200).
    public static let priority = 150

    public enum Outcome: String, Sendable { case created, updated, found }

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Returns one line per resource (`created index template logs-cloud_defend.alerts`...).
    public static func run(_ transport: ElasticsearchTransport) throws(SetupError) -> [String] {
        var report: [String] = []
        report.append(try checkCluster(transport))
        let meta: [String: Any] = ["managed_by": "defend", "defend_setup_version": setupVersion]
        let resources: [(kind: String, path: String, body: [String: Any])] = [
            ("ILM policy", "/_ilm/policy/" + ilmPolicy, ["policy": [
                "_meta": meta,
                "phases": ["hot": ["actions": ["rollover": ["max_primary_shard_size": "50gb", "max_age": "30d"]]]],
            ]]),
            ("ingest pipeline", "/_ingest/pipeline/" + alertsPipeline, [
                "description": "Defend alerts (as the cloud_defend package's alerts pipeline)",
                "_meta": meta,
                "processors": [
                    ["set": ["field": "event.ingested", "value": "{{{_ingest.timestamp}}}"]],
                    ["set": ["field": "ecs.version", "value": "8.7.0"]],
                    ["set": ["field": "event.dataset", "value": "cloud_defend.alerts"]],
                    ["set": ["field": "event.module", "value": "cloud_defend"]],
                ],
                "on_failure": [
                    ["set": ["field": "event.kind", "value": "pipeline_error"]],
                    ["append": ["field": "error.message", "value": "{{{ _ingest.on_failure_message }}}"]],
                ],
            ]),
        ] + DataStreamKind.allCases.map { kind in
            ("index template", "/_index_template/" + kind.streamPrefix, template(kind, meta: meta))
        }
        for r in resources {
            let outcome = try put(transport, path: r.path, body: r.body)
            report.append("\(outcome.rawValue) \(r.kind) \(r.path.split(separator: "/").last ?? "")")
        }
        return report
    }

    static func checkCluster(_ t: ElasticsearchTransport) throws(SetupError) -> String {
        let r = t.request(.GET, "/")
        guard case .response(let status, _, let body) = r else {
            if case .failure(let why) = r { throw SetupError(description: "cannot reach Elasticsearch: \(why)") }
            throw SetupError(description: "cannot reach Elasticsearch")
        }
        guard status == 200 else { throw SetupError(description: "GET / answered HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))") }
        guard r.header("X-Elastic-Product") == "Elasticsearch" else {
            throw SetupError(description: "\(t.currentHost) is not Elasticsearch (no X-Elastic-Product: Elasticsearch header)")
        }
        guard let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let number = (o["version"] as? [String: Any])?["number"] as? String,
              let major = Int(number.split(separator: ".").first ?? "") else {
            throw SetupError(description: "GET / gave no version.number")
        }
        guard major >= 8 else {
            throw SetupError(description: "Elasticsearch \(number) is too old: 8.0 or later is required")
        }
        return "found Elasticsearch \(number) at \(t.currentHost)"
    }

    static func put(_ t: ElasticsearchTransport, path: String, body: [String: Any]) throws(SetupError) -> Outcome {
        let existing = t.request(.GET, path)
        var outcome = Outcome.created
        if case .response(let status, _, let bytes) = existing {
            if status == 200 {
                let text = String(decoding: bytes, as: UTF8.self)
                if text.contains("\"defend_setup_version\":\(setupVersion)") { return .found }
                outcome = .updated
            } else if status != 404 {
                throw SetupError(description: "GET \(path): HTTP \(status): \(String(decoding: bytes.prefix(300), as: UTF8.self))")
            }
        } else if case .failure(let why) = existing {
            throw SetupError(description: "GET \(path): \(why)")
        }
        guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else {
            throw SetupError(description: "cannot encode \(path)")
        }
        let r = t.request(.PUT, path, body: [UInt8](data))
        guard case .response(let status, _, let answer) = r, status == 200 else {
            if case .response(let status, _, let answer) = r {
                throw SetupError(description: "PUT \(path): HTTP \(status): \(String(decoding: answer.prefix(500), as: UTF8.self))")
            }
            if case .failure(let why) = r { throw SetupError(description: "PUT \(path): \(why)") }
            throw SetupError(description: "PUT \(path) failed")
        }
        return outcome
    }

    // MARK: mappings

    static func template(_ kind: DataStreamKind, meta: [String: Any]) -> [String: Any] {
        var settings: [String: Any] = ["index.lifecycle.name": ilmPolicy]
        if kind == .alerts { settings["index.default_pipeline"] = alertsPipeline }
        let parts = kind.streamPrefix.split(separator: "-", maxSplits: 1)
        return [
            "index_patterns": [kind.streamPrefix + "-*"],
            "data_stream": [String: Any](),
            "priority": priority,
            "version": setupVersion,
            "_meta": meta,
            "template": [
                "settings": settings,
                "mappings": mappings(type: String(parts[0]), dataset: String(parts.count > 1 ? parts[1] : "")),
            ],
        ]
    }

    static var keyword: [String: Any] { ["type": "keyword", "ignore_above": 1024] }
    static var date: [String: Any] { ["type": "date"] }
    static var long: [String: Any] { ["type": "long"] }
    static var boolean: [String: Any] { ["type": "boolean"] }

    static func object(_ fields: [String: Any]) -> [String: Any] { ["properties": fields] }

    /// The fields of one process (the subject, and each relative: parent, leaders).
    static func processFields() -> [String: Any] {
        [
            "args": keyword, "args_count": long, "command_line": keyword, "entity_id": keyword,
            "executable": keyword, "name": keyword, "pid": long, "start": date, "end": date, "exit_code": long,
            "interactive": boolean, "same_as_process": boolean, "working_directory": keyword,
            "group": object(["id": keyword]), "user": object(["id": keyword]),
            "entry_meta": object(["type": keyword]),
        ]
    }

    static func mappings(type: String, dataset: String) -> [String: Any] {
        var process = processFields()
        for relative in ["parent", "group_leader", "session_leader", "entry_leader"] {
            process[relative] = object(processFields())
        }
        process["previous"] = object(["args": keyword, "executable": keyword])
        let constant: [String: Any] = ["type": "constant_keyword"]
        return [
            // Any string the agent adds later is a keyword, never analysed text.
            "dynamic_templates": [["strings_as_keyword": ["match_mapping_type": "string", "mapping": keyword]]],
            "properties": [
                "@timestamp": date,
                "message": ["type": "match_only_text"],
                "agent": object(["id": keyword, "type": keyword, "version": keyword]),
                "cloud": object(["provider": keyword, "region": keyword, "availability_zone": keyword,
                                 "account": object(["id": keyword]), "instance": object(["id": keyword, "name": keyword]),
                                 "machine": object(["type": keyword]), "project": object(["id": keyword])]),
                "cloud_defend": object(["hook_point": keyword, "matched_selectors": keyword, "package_policy_id": keyword,
                                        "package_policy_revision": long, "block_action_enabled": boolean,
                                        "truncated": keyword, "unresolved": keyword, "deleted": keyword]),
                "container": object(["id": keyword, "image": object(["name": keyword, "tag": keyword])]),
                "data_stream": object(["type": constant.merging(["value": type]) { $1 },
                                       "dataset": constant.merging(["value": dataset]) { $1 },
                                       "namespace": constant]),
                "ecs": object(["version": keyword]),
                "error": object(["message": ["type": "match_only_text"]]),
                "event": object(["action": keyword, "category": keyword, "created": date, "dataset": keyword,
                                 "id": keyword, "ingested": date, "kind": keyword, "module": keyword,
                                 "outcome": keyword, "type": keyword]),
                "file": object(["extension": keyword, "name": keyword, "path": keyword,
                                "Ext": object(["original": object(["name": keyword, "path": keyword])])]),
                "group": object(["id": keyword]),
                "host": object(["architecture": keyword, "hostname": keyword, "id": keyword, "ip": ["type": "ip"],
                                "mac": keyword, "name": keyword, "pid_ns_ino": long, "boot": object(["id": keyword]),
                                "os": object(["family": keyword, "full": keyword, "kernel": keyword, "name": keyword,
                                              "platform": keyword, "type": keyword, "version": keyword])]),
                "orchestrator": object(["cluster": object(["id": keyword, "name": keyword]), "namespace": keyword,
                                        "resource": object(["annotation": keyword, "label": keyword, "name": keyword,
                                                            "type": keyword]),
                                        "type": keyword]),
                "process": object(process),
                "user": object(["id": keyword]),
            ],
        ]
    }
}
