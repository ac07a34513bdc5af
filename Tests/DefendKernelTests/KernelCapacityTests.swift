import CLibBPF
import DefendEvents
@testable import DefendKernel
import DefendPolicy
import Glibc
import Testing

/// `policy validate` refuses policies larger than `KernelCapacity.pathEntriesPerPolicy`; these tests
/// tie that number to the BPF map and prove, on the real kernel, that the largest accepted policy
/// can replace itself (10,000 paths used to fail with E2BIG; 5,000 started but never reloaded).
struct KernelCapacityTests {
    @Test func policyCapacityIsTheBPFMapsHalf() {
        #expect(Int(DEFEND_POLICY_PATHS_MAX) == KernelCapacity.pathEntries)
        #expect(Int(DEFEND_GENERATIONS) * KernelCapacity.pathEntriesPerPolicy == KernelCapacity.pathEntries)
    }

    static func tables(paths: Int, prefix: String) -> KernelTables {
        var t = KernelTables()
        t.processTelemetry = false
        t.opMask[Int(PolicyOperation.createFile.rawValue)] = 1
        t.responses[0] = [.init(match: 1, exclude: 0, actions: .log)]
        t.pathEntries = (0..<paths).map { .init(section: .file, kind: .exact, string: "\(prefix)/f\($0)", mask: 1) }
        return t
    }

    @Test(.enabled(if: Host.isRoot, "needs root to load BPF programs"))
    func largestAcceptedPolicySwapsWithItselfInTheKernel() throws {
        let sensor = try Sensor(configuration: SensorConfiguration(processTelemetry: false))
        defer { sensor.close() }
        let largest = Self.tables(paths: KernelCapacity.pathEntriesPerPolicy, prefix: "/data")
        for _ in 0..<3 { try sensor.apply(largest) }  // each reload keeps the previous generation intact
        // One entry more no longer fits beside the policy in force: refused with the numbers, before
        // anything is written, and the kernel keeps enforcing (a later valid reload still works).
        let tooLarge = Self.tables(paths: KernelCapacity.pathEntriesPerPolicy + 1, prefix: "/other")
        let generation = sensor.activeGeneration
        do {
            try sensor.apply(tooLarge)
            Issue.record("a policy larger than half the map was applied beside a full generation")
        } catch {
            #expect("\(error)".contains("the policy needs 4097 kernel path entries and the policy in force holds 4096"), "\(error)")
        }
        #expect(sensor.activeGeneration == generation)
        try sensor.apply(Self.tables(paths: 10, prefix: "/small"))
        try sensor.apply(largest)
    }
}
