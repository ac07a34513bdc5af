import Glibc

/// Walks a cgroup hierarchy's directories (each directory's inode is its cgroup id).
public enum CgroupTree {
    /// Depth-first, bounded by `maxDirectories`. `visit` gets (cgroup id, path relative to `root` with
    /// a leading "/", "/" for the root itself) and returns false to stop the walk.
    public static func walk(_ root: String, maxDirectories: Int = 100_000, _ visit: (UInt64, String) -> Bool) {
        var stack: [String] = [""]
        var visited = 0
        while let rel = stack.popLast(), visited < maxDirectories {
            visited += 1
            let full = rel.isEmpty && root.isEmpty ? "/" : root + rel
            var st = stat()
            guard stat(full, &st) == 0 else { continue }
            guard visit(UInt64(st.st_ino), rel.isEmpty ? "/" : rel) else { return }
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
