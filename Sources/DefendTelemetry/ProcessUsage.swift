#if canImport(Glibc)
import Glibc
#endif

extension AgentSnapshot.ProcessUsage {
    /// CPU time (utime + stime of /proc/self/stat) and resident memory (/proc/self/statm) of this process.
    public static func current(procRoot: String = "/proc") -> AgentSnapshot.ProcessUsage {
        var usage = AgentSnapshot.ProcessUsage()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = readSmall(procRoot + "/self/stat"), let usage2 = parseStat(stat, ticksPerSecond: ticks) {
            usage.cpuSeconds = usage2
        }
        if let statm = readSmall(procRoot + "/self/statm") {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = UInt64(fields[1]) { usage.residentBytes = pages &* page }
        }
        return usage
    }

    /// utime and stime are fields 14 and 15; the command name (field 2) may hold spaces and parentheses,
    /// so fields are counted after its last ')'.
    static func parseStat(_ text: String, ticksPerSecond: Double) -> Double? {
        guard let close = text.lastIndex(of: ")"), ticksPerSecond > 0 else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state): utime = field 14 -> rest[11], stime -> rest[12].
        guard rest.count > 12, let user = UInt64(rest[11]), let system = UInt64(rest[12]) else { return nil }
        return Double(user &+ system) / ticksPerSecond
    }

    static func readSmall(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }
}
