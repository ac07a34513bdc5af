/// What the sensor could actually turn on, on this kernel. The agent prints `summary` once;
/// nothing here claims protection that is not there.
public struct SensorCapabilities: Sendable, Hashable {
    /// Kernel BTF present (/sys/kernel/btf/vmlinux): needed for CO-RE and tp_btf.
    public var btf: Bool
    /// BPF ring buffer map supported.
    public var ringBuffer: Bool
    /// `bpf` listed in /sys/kernel/security/lsm; nil when that file cannot be read.
    public var lsmListed: Bool?
    /// The kernel has the bpf_loop helper (Linux 5.17+).
    public var bpfLoop: Bool
    /// The object build loaded: "loop" or "bounded" (bpf/defend_loop.h).
    public var objectVariant: String
    /// The LSM object loaded and every LSM program attached.
    public var lsmActive: Bool
    /// Why the LSM half is off (nil when active).
    public var lsmFailure: String?
    /// tracefs was mounted by the sensor (it was missing).
    public var mountedTracefs: Bool
    /// Optional LSM hooks this kernel does not have (their programs are not loaded).
    public var absentHooks: [String] = []
    /// Wanted capabilities the agent lacks, each with what it loses (ProcessCapabilities).
    public var missingCapabilities: [String] = []
    /// Attached programs, and programs that failed with the reason.
    public var attached: [String]
    public var failed: [String: String]

    public init(btf: Bool = false, ringBuffer: Bool = false, bpfLoop: Bool = false, objectVariant: String = "",
                lsmListed: Bool? = nil, lsmActive: Bool = false,
                lsmFailure: String? = nil, mountedTracefs: Bool = false, attached: [String] = [],
                failed: [String: String] = [:]) {
        self.btf = btf; self.ringBuffer = ringBuffer; self.bpfLoop = bpfLoop; self.objectVariant = objectVariant
        self.lsmListed = lsmListed; self.lsmActive = lsmActive
        self.lsmFailure = lsmFailure; self.mountedTracefs = mountedTracefs; self.attached = attached
        self.failed = failed
    }

    static let processPrograms = ["defend_fork", "defend_exec", "defend_exit"]
    static let lsmPrograms = [
        "defend_path_mknod", "defend_file_open", "defend_path_truncate", "defend_path_chmod",
        "defend_path_rename", "defend_path_link", "defend_path_unlink", "defend_path_mkdir", "defend_path_rmdir",
        "defend_path_symlink", "defend_bprm_check", "defend_task_alloc", "defend_inode_setxattr",
        "defend_inode_setxattr_510", "defend_inode_set_acl", "defend_mmap_file",
    ]
    /// LSM programs whose hook only some kernels have (program, hook): not loaded where it is absent.
    static let optionalLSMHooks = [("defend_inode_set_acl", "inode_set_acl")]
    /// Hooks whose signature changed: (hook, [(program, parameter count)]); the kernel's count picks one.
    static let lsmHookSignatures = [("inode_setxattr", [("defend_inode_setxattr", 6), ("defend_inode_setxattr_510", 5)])]

    /// fork/exec/exit records (tracepoints).
    public var processEvents: Bool { Self.processPrograms.allSatisfy(attached.contains) }
    public var setsidEvents: Bool { attached.contains("defend_setsid") }
    public var cgroupEvents: Bool { attached.contains("defend_cgroup_mkdir") && attached.contains("defend_cgroup_rmdir") }
    /// File operations are reported (BPF-LSM).
    public var fileEvents: Bool { lsmActive }
    /// `block` actions are enforced (BPF-LSM gates and file hooks).
    public var blocking: Bool { lsmActive }

    /// One human paragraph for the agent's start-up log.
    public var summary: String {
        var parts: [String] = []
        parts.append(processEvents ? "process events ON (fork/exec/exit tracepoints)"
                                   : "process events OFF (\(reason(for: Self.processPrograms)))")
        if !setsidEvents { parts.append("setsid events OFF (\(failed["defend_setsid"] ?? "not attached"))") }
        if !cgroupEvents { parts.append("cgroup events OFF (\(reason(for: ["defend_cgroup_mkdir", "defend_cgroup_rmdir"])))") }
        if lsmActive {
            parts.append("file events and blocking ON (BPF-LSM)")
        } else {
            var why = lsmFailure ?? "BPF-LSM is not available"
            if lsmListed == false { why = "BPF-LSM is not active on this kernel (boot with lsm=...,bpf)" }
            parts.append("file events and blocking are OFF: \(why)")
        }
        if !btf { parts.append("kernel BTF missing (/sys/kernel/btf/vmlinux)") }
        if mountedTracefs { parts.append("mounted tracefs at /sys/kernel/tracing") }
        for c in missingCapabilities { parts.append("without \(c)") }
        return parts.joined(separator: "; ") + "; " + features
    }

    /// The kernel features found, stated once at start-up.
    public var features: String {
        var lsm = "unknown"
        if let listed = lsmListed { lsm = listed ? "listed" : "not listed" }
        return "kernel features: BTF \(btf ? "yes" : "no"), ring buffer \(ringBuffer ? "yes" : "no"), "
            + "bpf_loop \(bpfLoop ? "yes" : "no"), BPF-LSM \(lsm)"
            + (objectVariant.isEmpty ? "" : " (BPF objects: \(objectVariant == "bounded" ? "bounded loops" : "bpf_loop"))")
            + (absentHooks.isEmpty ? "" : ", LSM hooks absent: \(absentHooks.joined(separator: ", "))")
    }

    /// A warning when a policy asks for blocking that this kernel cannot enforce.
    public func blockingWarning(policyBlocks: Bool) -> String? {
        guard policyBlocks, !blocking else { return nil }
        return "the policy has block actions but blocking is NOT enforced: "
            + (lsmFailure ?? "BPF-LSM is not active") + "; matching operations are only reported"
    }

    private func reason(for programs: [String]) -> String {
        let reasons = programs.compactMap { p in failed[p].map { "\(p): \($0)" } }
        return reasons.isEmpty ? "not attached" : reasons.joined(separator: ", ")
    }
}
