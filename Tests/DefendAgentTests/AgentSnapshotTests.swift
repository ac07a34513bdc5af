import DefendEvents
import DefendKernel
import DefendPolicy
import DefendTelemetry
import Foundation
import Testing
@testable import DefendAgent

/// The snapshot the loop publishes: reload outcomes, generation and phase, from a scripted sensor.
@Suite(.serialized) struct AgentSnapshotTests {
    static let policy = """
        process:
          selectors:
            - name: shells
              operation: [exec]
              processName: [sh]
          responses:
            - match: [shells]
              actions: [log]
        """

    @Test func reloadsAndRejectionsAreCounted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-snap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/policy.yaml"
        try Self.policy.write(toFile: path, atomically: true, encoding: .utf8)
        var config = AgentConfiguration()
        config.policyPath = path
        config.stateDirectory = dir + "/state"
        config.cloudMetadata = false
        let sensor = FakeSensor()
        let box = SnapshotBox()
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: MemorySink(), snapshots: box)
        #expect(box.read() == nil, "nothing is published before the loop runs")

        try "process: [".write(toFile: path, atomically: true, encoding: .utf8)
        agent.reloadPolicy(reason: "test")
        try Self.policy.replacingOccurrences(of: "[sh]", with: "[bash]").write(toFile: path, atomically: true, encoding: .utf8)
        agent.reloadPolicy(reason: "test")

        let s = agent.snapshot(phase: .running, nowBootNs: 5)
        #expect(s.policy.reloads == 1)
        #expect(s.policy.reloadFailures == 1)
        #expect(s.policy.lastReloadError == nil, "a later good reload clears the last rejection")
        #expect(s.policy.generation == sensor.activeGeneration)
        #expect(s.policy.file == path)
        #expect(s.ready && s.phase == .running)
        #expect(s.losses.losses.contains { $0.type == "exec" && $0.reason == "ring_buffer_full" })
        #expect(s.process.residentBytes > 0)

        // The loop publishes when it runs, and says it is stopping at the end.
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        let last = try #require(box.read())
        #expect(last.phase == .stopping)
        #expect(!last.ready)
    }
}
