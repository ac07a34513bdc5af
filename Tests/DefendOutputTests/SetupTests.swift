@testable import DefendOutput
import Foundation
import Testing

@Suite(.serialized) struct SetupTests {
    func transport(_ server: StandInElasticsearch) throws -> ElasticsearchTransport {
        var s = ElasticsearchSettings()
        s.hosts = [server.url]
        s.timeout = 3
        return try ElasticsearchTransport(settings: s)
    }

    @Test func setupIsIdempotentAndReportsWhatItDid() throws {
        let server = StandInElasticsearch()
        server.auth = .basic("elastic", "pw")
        try server.start()
        defer { server.stop() }
        var s = ElasticsearchSettings()
        s.hosts = [server.url]; s.username = "elastic"; s.password = .init("pw")
        let t = try ElasticsearchTransport(settings: s)
        defer { t.shutdown() }
        let first = try ClusterSetup.run(t)
        #expect(first[0] == "found Elasticsearch 8.15.0 at \(server.url)")
        #expect(first.dropFirst().allSatisfy { $0.hasPrefix("created ") }, "\(first)")
        #expect(first.count == 1 + 2 + 4)
        let second = try ClusterSetup.run(t)
        #expect(second.dropFirst().allSatisfy { $0.hasPrefix("found ") }, "\(second)")
        // An older version of one resource is replaced.
        _ = t.request(.PUT, "/_index_template/logs-cloud_defend.file", body: Array("{\"_meta\":{\"defend_setup_version\":0}}".utf8))
        let third = try ClusterSetup.run(t)
        #expect(third.contains("updated index template logs-cloud_defend.file"))

        // The templates: data streams, ECS types for what the agent writes.
        for name in ["logs-cloud_defend.process", "logs-cloud_defend.file", "logs-cloud_defend.alerts", "metrics-cloud_defend.heartbeat"] {
            let body = try #require(server.resource("/_index_template/" + name))
            let o = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            #expect(o["data_stream"] is [String: Any])
            #expect(o["index_patterns"] as? [String] == [name + "-*"])
            let props = try #require(((o["template"] as? [String: Any])?["mappings"] as? [String: Any])?["properties"] as? [String: Any])
            func type(_ path: String) -> String? {
                var node: [String: Any]? = ["properties": props]
                for part in path.split(separator: ".") { node = (node?["properties"] as? [String: Any])?[String(part)] as? [String: Any] }
                return node?["type"] as? String
            }
            #expect(type("@timestamp") == "date")
            #expect(type("process.args") == "keyword")
            #expect(type("process.entity_id") == "keyword")
            #expect(type("process.parent.entity_id") == "keyword")
            #expect(type("process.entry_leader.entity_id") == "keyword")
            #expect(type("process.start") == "date")
            #expect(type("event.created") == "date")
            #expect(type("host.ip") == "ip")
        }
        let alerts = String(decoding: try #require(server.resource("/_index_template/logs-cloud_defend.alerts")), as: UTF8.self)
        #expect(alerts.contains(ClusterSetup.alertsPipeline))
        #expect(server.resource("/_ingest/pipeline/" + ClusterSetup.alertsPipeline) != nil)
        #expect(server.resource("/_ilm/policy/" + ClusterSetup.ilmPolicy) != nil)
    }

    @Test func anOldClusterIsRefusedBeforeAnythingIsWritten() throws {
        let server = StandInElasticsearch()
        server.version = "7.17.3"
        try server.start()
        defer { server.stop() }
        let t = try transport(server)
        defer { t.shutdown() }
        #expect(throws: ClusterSetup.SetupError.self) { _ = try ClusterSetup.run(t) }
        #expect(server.log == ["GET /"])
    }
}
