import DefendEvents
import DefendKernel
import DefendPolicy
import Foundation
import Synchronization
import Testing
@testable import DefendAgent

// policyA and policyB: the reload fixtures of PolicyReloadTests.swift.

/// A sensor whose every poll runs `onPoll` (the test's script), which says when to stop.
final class ScriptedSensor: KernelSensor {
    var capabilitySummary = "scripted sensor"
    var blockingEnforced = true
    var activeGeneration: UInt32 = 0
    var applied: [KernelTables] = []
    var polls = 0
    var onPoll: (ScriptedSensor) -> [KernelEvent] = { _ in SignalWatcher.requestStop(); return [] }

    func apply(_ tables: KernelTables, containerMasks: [UInt64: ContainerMasks]) throws(SensorError) {
        applied.append(tables)
        activeGeneration = 1 - activeGeneration
    }
    func setContainer(cgroupID: UInt64, masks: ContainerMasks) throws(SensorError) {}
    func removeContainer(cgroupID: UInt64) {}
    func setContainerParent(cgroupID: UInt64) throws(SensorError) {}
    func removeContainerParent(cgroupID: UInt64) {}
    func setVolumeMount(_ key: VolumeMountKey, kind: VolumeKind) throws(SensorError) {}
    func removeVolumeMount(_ key: VolumeMountKey) throws(SensorError) {}
    func poll(timeoutMs: Int32, handler: (KernelEvent) -> Void) throws(SensorError) -> Int {
        polls += 1
        let batch = onPoll(self)
        batch.forEach(handler)
        if batch.isEmpty { usleep(1_000) }
        return batch.count
    }
    func lossCounters() -> LossCounters { LossCounters() }
    func close() {}
}

private func tempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defend-hard-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private func config(_ dir: String, policy: String?) throws -> AgentConfiguration {
    var config = AgentConfiguration()
    if let policy {
        config.policyPath = dir + "/policy.yaml"
        try policy.write(toFile: dir + "/policy.yaml", atomically: true, encoding: .utf8)
    }
    config.stateDirectory = dir + "/state"
    config.cloudMetadata = false
    config.statisticsInterval = 0
    config.heartbeatInterval = 0
    return config
}

private func execEvent(pid: Int32, generation: UInt32) -> KernelEvent {
    let task = TaskInfo(pid: pid, ppid: 1, comm: "sh")
    return KernelEvent(record: .exec(ExecRecord(task: task, filename: "/bin/sh", cwd: "/", args: ["sh"])),
                       hook: .sched_process_exec,
                       decision: Decision(operation: .exec, actions: .log, selectors: 1, generation: generation),
                       bootTimeNs: 1_000)
}

@Suite(.serialized) struct AgentHardeningTests {
    /// After SIGKILL the ready file stayed, so a restarted agent looked ready before it attached.
    @Test func staleReadyFileIsRemovedBeforeStartUp() throws {
        let dir = try tempDir()
        var config = try config(dir, policy: nil)
        config.readyFile = dir + "/ready"
        #expect(FileManager.default.createFile(atPath: dir + "/ready", contents: nil))
        var readyWhileAttaching: Bool?
        let sensor = FakeSensor()
        let agent = try Agent(configuration: config, makeSensor: { _ in
            readyWhileAttaching = FileManager.default.fileExists(atPath: dir + "/ready")
            return sensor
        }, sink: MemorySink())
        #expect(readyWhileAttaching == false, "the stale ready file was still there while the sensor attached")
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/ready"))
    }

    /// `--stats-interval 18446744074` crashed the loop with an arithmetic overflow.
    @Test func hugeIntervalsDoNotOverflow() throws {
        let dir = try tempDir()
        var config = try config(dir, policy: nil)
        config.statisticsInterval = 18_446_744_074
        config.heartbeatInterval = Int.max
        let sensor = FakeSensor()
        sensor.pending = [execEvent(pid: 4242, generation: 0)]
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: MemorySink())
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        #expect(Agent.nanoseconds(seconds: Int.max) == UInt64.max)
        #expect(Agent.nanoseconds(seconds: -5) == 0)
        #expect(Agent.nanoseconds(seconds: 60) == 60_000_000_000)
    }

    /// A slow policy load (an alias bomb froze the loop for 20 s) must not stop event processing:
    /// the load is held until the loop has handled records sent after the reload was requested.
    @Test func reloadRunsOffTheEventLoop() throws {
        let dir = try tempDir()
        let config = try config(dir, policy: policyA)
        let sensor = ScriptedSensor()
        let sink = MemorySink()
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: sink)
        let reloader = try #require(agent.reloader)
        let gate = DispatchSemaphore(value: 0)
        let loadThread = Mutex<Bool?>(nil)  // true: the load ran on the loop's thread
        let timedOut = Mutex(false)
        let loopThread = pthread_self()
        reloader.setLoad { path throws(PolicyError) in
            loadThread.withLock { $0 = pthread_equal(pthread_self(), loopThread) != 0 }
            if gate.wait(timeout: .now() + 10) == .timedOut { timedOut.withLock { $0 = true } }
            return try PolicyLoader.load(path: path)
        }
        try policyB.write(toFile: config.policyPath!, atomically: true, encoding: .utf8)
        var sentDuringLoad = 0
        let deadline = Date().addingTimeInterval(20)
        sensor.onPoll = { s in
            if Date() > deadline { SignalWatcher.requestStop(); return [] }
            if s.polls == 1 { agent.requestReload(reason: "test") ; return [] }
            if s.applied.count == 2 { SignalWatcher.requestStop(); return [] }
            if sentDuringLoad < 3 {
                sentDuringLoad += 1
                if sentDuringLoad == 3 { gate.signal() }  // the loop handled records while the load waited
                return [execEvent(pid: 5000 + Int32(sentDuringLoad), generation: s.activeGeneration)]
            }
            return []
        }
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        #expect(loadThread.withLock { $0 } == false, "the policy was loaded on the event loop's thread")
        #expect(!timedOut.withLock { $0 }, "the loop stalled while the policy loaded")
        #expect(sensor.applied.count == 2, "the reloaded policy was installed")
        #expect(sink.lines.filter { $0.contains("\"cloud_defend.process\"") }.count >= 3)
    }

    /// One SIGHUP while the file was missing turned file watching off for good: an `rm && cp` edit
    /// was never noticed. The loop must notice the file's return.
    @Test func fileWatchSurvivesAReloadWhileTheFileIsMissing() throws {
        let dir = try tempDir()
        let config = try config(dir, policy: policyA)
        let path = try #require(config.policyPath)
        let sensor = ScriptedSensor()
        let agent = try Agent(configuration: config, makeSensor: { _ in sensor }, sink: MemorySink())
        agent.policyCheckIntervalNs = 0
        var step = 0
        let deadline = Date().addingTimeInterval(20)
        sensor.onPoll = { s in
            if Date() > deadline { SignalWatcher.requestStop(); return [] }
            switch step {
            case 0:  // rm, then a reload (SIGHUP) that finds no file
                unlink(path)
                agent.requestReload(reason: "SIGHUP")
                step = 1
            case 1:
                if agent.reloadsRejected == 1 {  // the rejected reload is done: now the `cp`
                    try? policyB.write(toFile: path, atomically: true, encoding: .utf8)
                    step = 2
                }
            default:
                if s.applied.count == 2 { SignalWatcher.requestStop() }
            }
            return []
        }
        SignalWatcher.reset()
        #expect(agent.run() == 0)
        #expect(agent.reloadsRejected == 1)
        #expect(sensor.applied.count == 2, "the recreated policy file was never noticed")
        let expected = CompiledPolicy(try PolicyLoader.parse(yaml: policyB).policy, scope: .containers).tables
        #expect(sensor.applied.last == expected)
    }
}
