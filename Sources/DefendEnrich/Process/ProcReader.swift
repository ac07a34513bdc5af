import Glibc

/// One process read from `/proc/<pid>`: its table entry and its cgroup v2 path (for container lookup).
public struct ProcSnapshot: Sendable, Hashable {
    public var entry: ProcessEntry
    public var cgroupPath: String?
}

/// Reads processes from a procfs mount. Used to seed the table at start and to fill in a pid the
/// kernel never told us about; never per event for known processes.
public struct ProcReader: Sendable {
    public var root: String
    /// Bytes of `cmdline` read at most (a 1 MB argv is cut here; `argsTruncated` is set).
    public var maxCmdlineBytes: Int
    /// Nanoseconds per clock tick of `/proc/<pid>/stat` start times.
    public let tickNs: UInt64

    public init(root: String = "/proc", maxCmdlineBytes: Int = 16 * 1024) {
        self.root = root
        self.maxCmdlineBytes = maxCmdlineBytes
        let hz = sysconf(Int32(_SC_CLK_TCK))
        self.tickNs = hz > 0 ? 1_000_000_000 / UInt64(hz) : 10_000_000
    }

    /// Every process (thread group) except kernel threads, in pid order.
    public func scanAll() -> [ProcSnapshot] {
        var pids: [Int32] = []
        guard let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = Int32(name), pid > 0 { pids.append(pid) }
        }
        return pids.sorted().compactMap { read(pid: $0) }
    }

    /// Reads one process; nil when it does not exist (any more) or is a kernel thread.
    public func read(pid: Int32) -> ProcSnapshot? {
        let base = "\(root)/\(pid)"
        guard let statBytes = Self.readFile("\(base)/stat", limit: 4096),
              var entry = Self.parseStat(statBytes, tickNs: tickNs) else { return nil }
        if let status = Self.readFile("\(base)/status", limit: 8192) { Self.applyStatus(status, to: &entry) }
        if let cmd = Self.readFile("\(base)/cmdline", limit: maxCmdlineBytes + 1) {
            entry.argsTruncated = cmd.count > maxCmdlineBytes
            entry.args = Self.splitArgs(cmd.prefix(maxCmdlineBytes))
        }
        // procfs appends " (deleted)" to a name that is gone; kept as a flag, not as part of the path
        (entry.executable, entry.executableDeleted) = Self.deletedSuffix(Self.readLink("\(base)/exe"))
        (entry.workingDirectory, entry.workingDirectoryDeleted) = Self.deletedSuffix(Self.readLink("\(base)/cwd"))
        if let exe = entry.executable {
            entry.name = ProcessTable.basename(exe)
        } else {
            entry.name = entry.comm
        }
        entry.origin = .procScan
        var cgroupPath: String?
        if let cg = Self.readFile("\(base)/cgroup", limit: 8192) {
            cgroupPath = Self.parseCgroupV2(cg)
        }
        return ProcSnapshot(entry: entry, cgroupPath: cgroupPath)
    }

    // MARK: parsing (internal for tests)

    /// A `/proc/<pid>/{exe,cwd}` link target without procfs's " (deleted)" suffix, and whether it had it.
    static func deletedSuffix(_ target: String?) -> (String?, Bool) {
        guard let t = target else { return (nil, false) }
        let suffix = " (deleted)"
        guard t.hasSuffix(suffix) else { return (t, false) }
        return (String(decoding: t.utf8.dropLast(suffix.utf8.count), as: UTF8.self), true)
    }

    /// `/proc/<pid>/stat`: comm is in parentheses and may itself contain ") ", so fields are counted
    /// from the last ')'. Returns nil for kernel threads (PF_KTHREAD).
    static func parseStat(_ bytes: [UInt8], tickNs: UInt64) -> ProcessEntry? {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), close > open,
              let pid = Int32(String(decoding: bytes[..<open], as: UTF8.self).trimmingSpaces()) else { return nil }
        let comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        // fields[0] is field 3 (state).
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        func num(_ field: Int) -> Int64? {
            let i = field - 3
            guard i >= 0, i < fields.count else { return nil }
            return Int64(String(decoding: fields[i], as: UTF8.self).trimmingSpaces())
        }
        guard let ppid = num(4), let pgid = num(5), let sid = num(6), let ttyNr = num(7),
              let flags = num(9), let start = num(22) else { return nil }
        if flags & 0x0020_0000 != 0 { return nil } // PF_KTHREAD
        let tty = UInt32(truncatingIfNeeded: ttyNr)
        return ProcessEntry(pid: pid, ppid: Int32(truncatingIfNeeded: ppid), pgid: Int32(truncatingIfNeeded: pgid),
                            sid: Int32(truncatingIfNeeded: sid), startBootNs: UInt64(max(0, start)) &* tickNs,
                            ttyMajor: (tty >> 8) & 0xfff, ttyMinor: (tty & 0xff) | ((tty >> 12) & 0xfff00),
                            name: comm, comm: comm, origin: .procScan)
    }

    /// `Uid:`/`Gid:` (real, effective, ...), `CapEff:`/`CapPrm:` (hex), `NSpid:` (last = innermost).
    static func applyStatus(_ bytes: [UInt8], to entry: inout ProcessEntry) {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            let values = line[(colon + 1)...].split(whereSeparator: { $0 == 9 || $0 == 32 })
                .map { String(decoding: $0, as: UTF8.self) }
            switch key {
            case "Uid" where values.count >= 2:
                entry.uid = UInt32(values[0]) ?? 0; entry.euid = UInt32(values[1]) ?? 0
            case "Gid" where values.count >= 2:
                entry.gid = UInt32(values[0]) ?? 0; entry.egid = UInt32(values[1]) ?? 0
            case "CapEff" where !values.isEmpty: entry.capEffective = UInt64(values[0], radix: 16) ?? 0
            case "CapPrm" where !values.isEmpty: entry.capPermitted = UInt64(values[0], radix: 16) ?? 0
            case "NSpid" where !values.isEmpty: entry.namespacePid = Int32(values[values.count - 1]) ?? 0
            default: continue
            }
        }
    }

    static func splitArgs<C: Collection>(_ bytes: C) -> [String] where C.Element == UInt8 {
        var args: [String] = []
        var current: [UInt8] = []
        for b in bytes {
            if b == 0 { args.append(String(decoding: current, as: UTF8.self)); current.removeAll(keepingCapacity: true) }
            else { current.append(b) }
        }
        if !current.isEmpty { args.append(String(decoding: current, as: UTF8.self)) }
        return args
    }

    /// The unified-hierarchy line `0::<path>` of `/proc/<pid>/cgroup`.
    static func parseCgroupV2(_ bytes: [UInt8]) -> String? {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let s = String(decoding: line, as: UTF8.self)
            if s.hasPrefix("0::") { return String(s.dropFirst(3)) }
        }
        return nil
    }

    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let want = min(chunk.count, limit - out.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = buf.withUnsafeMutableBufferPointer { readlink(path, $0.baseAddress!, 4096) }
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
