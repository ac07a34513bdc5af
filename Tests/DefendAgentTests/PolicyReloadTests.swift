import DefendEvents
import DefendKernel
import DefendPolicy
import Foundation
import Testing
@testable import DefendAgent

/// Two small valid policies the reload tests swap between (also used by AgentHardeningTests).
let policyA = """
    process:
      selectors:
        - name: shells
          operation: [exec]
          processName: [sh]
      responses:
        - match: [shells]
          actions: [log]
    """

let policyB = """
    process:
      selectors:
        - name: editors
          operation: [exec]
          processName: [vi]
      responses:
        - match: [editors]
          actions: [alert]
    """

private func makeAgent(policyText: String) throws -> (Agent, FakeSensor, MemorySink, String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-reload-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/policy.yaml"
    try policyText.write(toFile: path, atomically: true, encoding: .utf8)
    var config = AgentConfiguration()
    config.policyPath = path
    config.stateDirectory = dir + "/state"
    config.cloudMetadata = false
    let sensor = FakeSensor()
    let sink = MemorySink()
    let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: sink)
    return (agent, sensor, sink, path)
}

@Suite(.serialized) struct PolicyReloadTests {
    @Test func brokenPolicyOnReloadLeavesTheOldOneEnforcing() throws {
        let (agent, sensor, _, path) = try makeAgent(policyText: policyA)
        #expect(sensor.applied.count == 1)
        let enforced = try #require(sensor.applied.last)

        try "process:\n  selectors:\n    - name: [broken\n".write(toFile: path, atomically: true, encoding: .utf8)
        agent.reloadPolicy(reason: "test")
        #expect(sensor.applied.count == 1, "an invalid policy must never reach the kernel")
        #expect(sensor.applied.last == enforced)

        // A policy that parses but does not validate (block without alert) is refused too.
        try policyA.replacingOccurrences(of: "[log]", with: "[block]").write(toFile: path, atomically: true, encoding: .utf8)
        agent.reloadPolicy(reason: "test")
        #expect(sensor.applied.count == 1)

        try policyB.write(toFile: path, atomically: true, encoding: .utf8)
        agent.reloadPolicy(reason: "test")
        #expect(sensor.applied.count == 2)
        let expected = CompiledPolicy(try PolicyLoader.parse(yaml: policyB).policy, scope: .containers).tables
        #expect(sensor.applied.last == expected)
    }

    @Test func kernelRefusingTheNewPolicyKeepsTheOldNames() throws {
        let (agent, sensor, sink, path) = try makeAgent(policyText: policyA)
        try policyB.write(toFile: path, atomically: true, encoding: .utf8)
        sensor.failNextApply = true
        agent.reloadPolicy(reason: "test")
        #expect(sensor.applied.count == 1)

        // A record decided by the policy in force is still named with policy A's selectors.
        let task = TaskInfo(pid: 4242, ppid: 1, comm: "sh")
        let exec = ExecRecord(task: task, filename: "/bin/sh", cwd: "/", args: ["sh"])
        sensor.pending = [KernelEvent(record: .exec(exec), hook: .sched_process_exec,
                                      decision: Decision(operation: .exec, actions: .log, selectors: 1,
                                                         generation: sensor.activeGeneration),
                                      bootTimeNs: 1_000)]
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        let line = try #require(sink.lines.first { $0.contains("\"cloud_defend.process\"") })
        #expect(line.contains("\"matched_selectors\":[\"shells\"]"))
    }

    @Test func policyFileStampNoticesEdits() throws {
        let (_, _, _, path) = try makeAgent(policyText: policyA)
        let stamp = try #require(PolicyFileStamp(path: path))
        #expect(!stamp.changed())
        try (policyA + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(stamp.changed())
    }
}
