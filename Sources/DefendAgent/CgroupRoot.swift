#if canImport(Glibc)
import Glibc
#endif

/// The cgroup v2 hierarchy whose directory inodes are the ids `bpf_get_current_cgroup_id()` returns:
/// `/sys/fs/cgroup` on unified systems, `/sys/fs/cgroup/unified` on hybrid (v1 + v2) ones.
enum CgroupRoot {
    /// The first cgroup2 mount point in `/proc/self/mounts` (sysfs locations preferred).
    static func detect(mountsFile: String = "/proc/self/mounts") -> String? {
        guard let f = fopen(mountsFile, "r") else { return nil }
        defer { fclose(f) }
        var found: [String] = []
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            if fields.count >= 3, fields[2] == "cgroup2" { found.append(String(fields[1])) }
        }
        return found.first(where: { $0.hasPrefix("/sys/fs/cgroup") }) ?? found.first
    }
}

