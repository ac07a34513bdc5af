/// The Linux capabilities the agent needs, checked at start instead of uid 0.
///
/// Required: loading BPF programs and maps needs CAP_BPF, and tracing and LSM programs also need
/// CAP_PERFMON (`is_perfmon_prog_type`, kernel/bpf/syscall.c); CAP_SYS_ADMIN stands in for both.
/// Wanted (the agent runs without them, and says what it loses): CAP_SYS_PTRACE and
/// CAP_DAC_READ_SEARCH (other users' `/proc/<pid>/{exe,cwd,cmdline}` and the runtimes' state under
/// `/run/containerd`), CAP_SYS_RESOURCE (RLIMIT_MEMLOCK for BPF maps on kernels before 5.11, which
/// account BPF memory to it instead of the memory cgroup), CAP_SYS_ADMIN (`--bpf-stats`).
public struct ProcessCapabilities: Sendable, Hashable {
    public static let dacReadSearch = 2, sysPtrace = 19, sysAdmin = 21, sysResource = 24, perfmon = 38, bpf = 39

    public var effective: UInt64
    public init(effective: UInt64) { self.effective = effective }

    public func has(_ cap: Int) -> Bool { effective & (1 << UInt64(cap)) != 0 }

    /// Capabilities without which no BPF program loads, by name; empty when the sensor can load.
    public var missingRequired: [String] {
        var out: [String] = []
        if !has(Self.bpf) && !has(Self.sysAdmin) { out.append("CAP_BPF") }
        if !has(Self.perfmon) && !has(Self.sysAdmin) { out.append("CAP_PERFMON") }
        return out
    }

    /// Wanted capabilities that are missing, each with what the agent loses without it.
    public func missingWanted(memlockAccounting: Bool) -> [String] {
        var out: [String] = []
        if !has(Self.sysPtrace) {
            out.append("CAP_SYS_PTRACE (executables and working directories of processes older than the agent "
                       + "and of other users are not read from /proc)")
        }
        if !has(Self.dacReadSearch) {
            out.append("CAP_DAC_READ_SEARCH (runtime state the agent's user cannot read leaves containers without images)")
        }
        if memlockAccounting && !has(Self.sysResource) {
            out.append("CAP_SYS_RESOURCE (this kernel charges BPF maps to RLIMIT_MEMLOCK, which cannot be raised)")
        }
        return out
    }

    /// `CapEff:` of a /proc/<pid>/status text.
    public static func parseEffective(_ status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: " \t"), radix: 16)
        }
        return nil
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self[...]
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return s
    }
}
