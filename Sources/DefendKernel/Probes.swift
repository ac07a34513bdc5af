import CLibBPF
import Glibc

/// Start-up feature probes (no BPF objects involved).
enum Probes {
    /// The calling thread's effective capability set (`CapEff` of /proc/self/status); nil when unreadable.
    static var effectiveCapabilities: UInt64? {
        guard let text = readSmallFile("/proc/self/status") else { return nil }
        return ProcessCapabilities.parseEffective(text)
    }

    /// BPF memory is charged to RLIMIT_MEMLOCK (kernels before 5.11) rather than to the memory cgroup.
    /// libbpf's own test: the helper bpf_ktime_get_coarse_ns arrived in the same release as memcg
    /// accounting. A probe that cannot load at all (as under a small RLIMIT_MEMLOCK) counts as "charges".
    static var chargesMemlock: Bool {
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_ktime_get_coarse_ns, nil) != 1
    }

    /// RLIMIT_MEMLOCK is finite (what kernels before 5.11 charge BPF maps to).
    static var memlockLimited: Bool {
        var r = rlimit()
        return getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &r) == 0 && r.rlim_cur != rlim_t.max  // RLIM_INFINITY
    }

    static var hasBTF: Bool { access("/sys/kernel/btf/vmlinux", R_OK) == 0 }

    static var hasRingBuffer: Bool { libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nil) == 1 }

    /// The bpf_loop helper (Linux 5.17+). It is a base helper of every program type, so a small
    /// socket-filter program tells (a kprobe one when that type cannot be probed). Any answer but
    /// "yes" selects the bounded objects, which load everywhere.
    static var hasBPFLoop: Bool {
        let r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_loop, nil)
        if r == 1 { return true }
        if r == 0 { return false }
        return libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, nil) == 1
    }

    /// The kernel has the LSM hook `name` (its bpf_lsm_<name> attach point in the kernel BTF).
    static func hasLSMHook(_ name: String) -> Bool {
        libbpf_find_vmlinux_btf_id(name, BPF_LSM_MAC) > 0
    }

    /// Parameter count of the kernel's bpf_lsm_<hook> (its LSM hook's arguments), nil when unknown.
    static func lsmHookParameterCount(_ hook: String) -> Int? {
        let n = defend_btf_func_params("bpf_lsm_" + hook)
        return n >= 0 ? Int(n) : nil
    }

    /// The value of an environment variable, or nil.
    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// `bpf` in the active LSM list; nil when securityfs is not readable.
    static var lsmListsBPF: Bool? {
        guard let text = readSmallFile("/sys/kernel/security/lsm") else { return nil }
        return text.split(whereSeparator: { $0 == "," || $0 == "\n" }).contains("bpf")
    }

    static var hasTracefs: Bool {
        access("/sys/kernel/tracing/events", F_OK) == 0 || access("/sys/kernel/debug/tracing/events", F_OK) == 0
    }

    /// Mounts tracefs at /sys/kernel/tracing; true on success.
    static func mountTracefs() -> Bool {
        mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nil) == 0 && hasTracefs
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }
}
