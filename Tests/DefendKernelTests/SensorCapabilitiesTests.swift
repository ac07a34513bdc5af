@testable import DefendKernel
import Testing

/// The start-up summary never claims what is off, and names why.
struct SensorCapabilitiesTests {
    static let process = ["defend_fork", "defend_exec", "defend_exit", "defend_setsid", "defend_cgroup_mkdir",
                          "defend_cgroup_rmdir"]

    @Test func lsmRefusedMeansNoFileEventsAndNoBlocking() {
        let c = SensorCapabilities(btf: true, ringBuffer: true, lsmListed: false, lsmActive: false,
                                   lsmFailure: "refused", attached: Self.process)
        #expect(c.processEvents && c.setsidEvents && c.cgroupEvents)
        #expect(!c.fileEvents && !c.blocking)
        #expect(c.summary.contains("process events ON"))
        #expect(c.summary.contains("file events and blocking are OFF: BPF-LSM is not active on this kernel (boot with lsm=...,bpf)"))
        #expect(c.blockingWarning(policyBlocks: true)?.contains("NOT enforced") == true)
        #expect(c.blockingWarning(policyBlocks: false) == nil)
    }

    @Test func everythingOn() {
        let c = SensorCapabilities(btf: true, ringBuffer: true, bpfLoop: false, objectVariant: "bounded",
                                   lsmListed: true, lsmActive: true,
                                   attached: Self.process + SensorCapabilities.lsmPrograms)
        #expect(c.fileEvents && c.blocking)
        #expect(c.summary == "process events ON (fork/exec/exit tracepoints); file events and blocking ON (BPF-LSM); "
                + "kernel features: BTF yes, ring buffer yes, bpf_loop no, BPF-LSM listed (BPF objects: bounded loops)")
        #expect(c.blockingWarning(policyBlocks: true) == nil)
    }

    @Test func failedProgramsAreNamedWithTheirReason() {
        let c = SensorCapabilities(btf: true, ringBuffer: true, lsmActive: false, lsmFailure: "disabled by configuration",
                                   attached: ["defend_fork", "defend_exit", "defend_cgroup_mkdir", "defend_cgroup_rmdir"],
                                   failed: ["defend_exec": "Invalid argument (errno 22)", "defend_setsid": "No such file"])
        #expect(!c.processEvents)
        #expect(c.summary.contains("process events OFF (defend_exec: Invalid argument (errno 22))"))
        #expect(c.summary.contains("setsid events OFF (No such file)"))
        #expect(c.summary.contains("file events and blocking are OFF: disabled by configuration"))
    }

    /// A load failure names what the kernel lacks; the verifier log only on request.
    @Test func loadErrorsSayWhatIsMissing() {
        let log = "libbpf: prog 'x': BPF program load failed\n0: (85) call unknown#181\nunknown func bpf_loop#181\n"
        #expect(Sensor.missingFeature(inLog: log) == "the kernel lacks the BPF helper bpf_loop")
        let plain = Sensor.explained(.objectLoad(object: "lsm", errno: -22, log: log), features: "kernel features: x",
                                     keepLog: false).description
        #expect(plain.contains("the kernel lacks the BPF helper bpf_loop") && plain.contains("DEFEND_BPF_LOG=1"))
        #expect(!plain.contains("call unknown"))
        let full = Sensor.explained(.objectLoad(object: "lsm", errno: -22, log: log), features: "", keepLog: true).description
        #expect(full.contains("call unknown#181"))
        #expect(Sensor.missingFeature(inLog: "Failed to find kernel BTF type ID of 'bpf_lsm_inode_x'") ==
                "the kernel lacks the hook bpf_lsm_inode_x")
    }

    @Test func ringBufferSizeIsAPowerOfTwoPage() {
        #expect(SensorConfiguration(ringBufferBytes: 1).effectiveRingBufferBytes == 4096)
        #expect(SensorConfiguration(ringBufferBytes: 8 << 20).effectiveRingBufferBytes == 8 << 20)
        #expect(SensorConfiguration(ringBufferBytes: (8 << 20) + 1).effectiveRingBufferBytes == 16 << 20)
    }
}
