import Foundation
import Testing
@testable import DefendAgent

private let blockingPolicy = """
    file:
      selectors:
        - name: binWrites
          operation: [createExecutable, modifyExecutable]
          targetFilePath: [/usr/bin/**]
      responses:
        - match: [binWrites]
          actions: [alert, block]
    """

@Suite(.serialized) struct HeartbeatTests {
    func heartbeat(blockingEnforced: Bool, policy: String?) throws -> [String: Any] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-hb-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = AgentConfiguration()
        if let policy {
            config.policyPath = dir + "/policy.yaml"
            try policy.write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
        }
        config.stateDirectory = dir + "/state"
        config.cloudMetadata = false
        config.dataStreamNamespace = "prod"
        config.packagePolicyID = "pp-1"
        let sensor = FakeSensor()
        sensor.blockingEnforced = blockingEnforced
        let sink = MemorySink()
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: sink)
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        let line = try #require(sink.lines.first, "a heartbeat is written at start")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func heartbeatSaysWhetherBlockingIsInForce() throws {
        let on = try heartbeat(blockingEnforced: true, policy: blockingPolicy)
        let stream = try #require(on["data_stream"] as? [String: Any])
        #expect(stream["type"] as? String == "metrics")
        #expect(stream["dataset"] as? String == "cloud_defend.heartbeat")
        #expect(stream["namespace"] as? String == "prod")
        let cd = try #require(on["cloud_defend"] as? [String: Any])
        #expect(cd["block_action_enabled"] as? Bool == true)
        #expect(cd["package_policy_id"] as? String == "pp-1")
        #expect((on["event"] as? [String: Any])?["kind"] as? String == "metric")
        #expect((on["agent"] as? [String: Any])?["type"] as? String == "cloud-defend")
        #expect(on["@timestamp"] as? String != nil)

        // The kernel cannot enforce (no BPF-LSM): never claim protection that is not there.
        let off = try heartbeat(blockingEnforced: false, policy: blockingPolicy)
        #expect((off["cloud_defend"] as? [String: Any])?["block_action_enabled"] as? Bool == false)
        // The default policy does not block.
        let none = try heartbeat(blockingEnforced: true, policy: nil)
        #expect((none["cloud_defend"] as? [String: Any])?["block_action_enabled"] as? Bool == false)
    }
}
