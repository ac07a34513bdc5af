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

extension CgroupRoot {
    /// Every cgroup directory under `root` (depth-first, bounded), as (inode = cgroup id, path relative to
    /// `root` with a leading "/"). Used at start so containers that exist before the agent, even ones with
    /// no process yet, are known to the kernel.
    static func walk(_ root: String, maxDirectories: Int = 100_000, _ visit: (UInt64, String) -> Void) {
        var stack: [String] = [""]
        var visited = 0
        while let rel = stack.popLast(), visited < maxDirectories {
            visited += 1
            let full = root + rel
            var st = stat()
            guard stat(full, &st) == 0 else { continue }
            visit(UInt64(st.st_ino), rel.isEmpty ? "/" : rel)
            guard let dir = opendir(full) else { continue }
            while let entry = readdir(dir) {
                guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                stack.append(rel + "/" + name)
            }
            closedir(dir)
        }
    }
}
