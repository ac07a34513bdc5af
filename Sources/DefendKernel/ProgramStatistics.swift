#if canImport(Glibc)
import Glibc
#endif
import CLibBPF

/// Run time and run count of one attached BPF program, as the kernel counts them while
/// `kernel.bpf_stats_enabled` is on (or while some process holds a BPF_ENABLE_STATS descriptor).
public struct BPFProgramStatistics: Sendable, Hashable {
    public var name: String
    public var runTimeNs: UInt64
    public var runCount: UInt64
}

public enum BPFStats {
    /// `kernel.bpf_stats_enabled`; nil when unreadable.
    public static func sysctlEnabled(procRoot: String = "/proc") -> Bool? {
        let fd = open(procRoot + "/sys/kernel/bpf_stats_enabled", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var c: UInt8 = 0
        guard read(fd, &c, 1) == 1 else { return nil }
        return c != UInt8(ascii: "0")
    }

    /// Turns run-time statistics on for as long as the returned descriptor is open (BPF_ENABLE_STATS,
    /// CAP_SYS_ADMIN); closing it restores the previous state unless others hold one too.
    public static func enableRunTimeStatistics() throws(BPFStatsError) -> Int32 {
        let fd = bpf_enable_stats(BPF_STATS_RUN_TIME)
        guard fd >= 0 else { throw BPFStatsError(errno: fd < -1 ? -fd : errno) }
        return fd
    }
}

public struct BPFStatsError: Error, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var description: String {
        "cannot turn on BPF run-time statistics (BPF_ENABLE_STATS): \(String(cString: strerror(errno)))"
    }
}

extension Sensor {
    /// Statistics of every attached program (zeros while statistics are off).
    public func programStatistics() -> [BPFProgramStatistics] {
        var out: [BPFProgramStatistics] = []
        for object in [sensorObject] + (lsmObject.map { [$0] } ?? []) {
            out.append(contentsOf: object.programStatistics(only: Set(capabilities.attached)))
        }
        return out.sorted { $0.name < $1.name }
    }
}

extension BPFObject {
    func programStatistics(only attached: Set<String>) -> [BPFProgramStatistics] {
        var out: [BPFProgramStatistics] = []
        var prog = bpf_object__next_program(handle, nil)
        while let p = prog {
            defer { prog = bpf_object__next_program(handle, p) }
            let name = String(cString: bpf_program__name(p))
            let fd = bpf_program__fd(p)
            guard attached.contains(name), fd >= 0 else { continue }
            var info = bpf_prog_info()
            var len = UInt32(MemoryLayout<bpf_prog_info>.size)
            guard bpf_obj_get_info_by_fd(fd, &info, &len) == 0 else { continue }
            out.append(BPFProgramStatistics(name: name, runTimeNs: info.run_time_ns, runCount: info.run_cnt))
        }
        return out
    }
}
