import Glibc

extension HostMetadata {
    /// Reads `host.*` from this machine: uname, /etc/machine-id, /etc/os-release, interfaces
    /// (getifaddrs), boot id and pid namespace inode. Called once at start. Roots are configurable for tests.
    public static func collect(etcRoot: String = "/etc", procRoot: String = "/proc") -> HostMetadata {
        var h = HostMetadata()
        var u = utsname()
        if uname(&u) == 0 {
            let nodename = cString(&u.nodename)
            h.name = nodename.isEmpty ? nil : nodename
            h.hostname = nodename.split(separator: ".").first.map(String.init) ?? nodename
            let machine = cString(&u.machine)
            h.architecture = architectureName(machine)
            h.os.name = cString(&u.sysname)
            h.os.kernel = cString(&u.release) + " " + cString(&u.version)
        }
        h.os.type = "linux"
        h.id = readTrimmed(etcRoot + "/machine-id")
        h.bootID = readTrimmed(procRoot + "/sys/kernel/random/boot_id")
        var st = stat()
        if stat(procRoot + "/self/ns/pid", &st) == 0 { h.pidNamespaceInode = UInt64(st.st_ino) }
        let release = readTrimmed(etcRoot + "/os-release") ?? readTrimmed("/usr/lib/os-release") ?? ""
        let os = parseOSRelease(release)
        h.os.family = os["ID"]
        h.os.platform = os["ID"]
        h.os.full = os["PRETTY_NAME"] ?? os["NAME"]
        h.os.version = os["VERSION_ID"]
        let (ips, macs) = interfaces()
        h.ip = ips
        h.mac = macs
        return h
    }

    /// Go/Elastic architecture names for the common machines.
    static func architectureName(_ machine: String) -> String {
        switch machine {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "i386", "i686": return "386"
        default: return machine
        }
    }

    /// `KEY=value` lines; values may be double- or single-quoted with backslash escapes.
    static func parseOSRelease(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let l = line.trimmingCharacters()
            guard !l.hasPrefix("#"), let eq = l.firstIndex(of: "=") else { continue }
            let key = String(l[..<eq])
            var value = Substring(l[l.index(after: eq)...])
            if let q = value.first, q == "\"" || q == "'", value.count >= 2, value.last == q {
                value = value.dropFirst().dropLast()
                var unescaped = ""
                var escape = false
                for c in value {
                    if escape { unescaped.append(c); escape = false } else if c == "\\" { escape = true } else { unescaped.append(c) }
                }
                out[key] = unescaped
            } else {
                out[key] = String(value)
            }
        }
        return out
    }

    /// IPv4/IPv6 addresses of every interface (loopback included, as D4C reports) and MAC addresses
    /// of non-loopback interfaces with a non-zero hardware address. Deduplicated, in interface order.
    static func interfaces() -> ([String], [String]) {
        var ips: [String] = []
        var macs: [String] = []
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return ([], []) }
        defer { freeifaddrs(list) }
        var cur: UnsafeMutablePointer<ifaddrs>? = first
        while let ifa = cur {
            defer { cur = ifa.pointee.ifa_next }
            guard let addr = ifa.pointee.ifa_addr else { continue }
            let family = Int32(addr.pointee.sa_family)
            let loopback = ifa.pointee.ifa_flags & UInt32(IFF_LOOPBACK) != 0
            if family == AF_INET || family == AF_INET6 {
                var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
                let ok: Bool
                if family == AF_INET {
                    ok = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        var a = sin.pointee.sin_addr
                        return inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) != nil
                    }
                } else {
                    ok = addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                        var a = sin6.pointee.sin6_addr
                        return inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil
                    }
                }
                if ok {
                    let s = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if !ips.contains(s) { ips.append(s) }
                }
            } else if family == AF_PACKET, !loopback {
                // struct sockaddr_ll (not in the Glibc module): sll_halen at byte 11, sll_addr at 12.
                let raw = UnsafeRawPointer(addr)
                let len = Int(raw.load(fromByteOffset: 11, as: UInt8.self))
                var mac: String?
                if len == 6 {
                    let bytes = (0..<6).map { raw.load(fromByteOffset: 12 + $0, as: UInt8.self) }
                    if bytes.contains(where: { $0 != 0 }) {
                        mac = bytes.map { b in
                            let hex = String(b, radix: 16)
                            return b < 16 ? "0" + hex : hex
                        }.joined(separator: ":")
                    }
                }
                if let m = mac, !macs.contains(m) { macs.append(m) }
            }
        }
        return (ips, macs)
    }

    static func readTrimmed(_ path: String) -> String? {
        guard let bytes = ProcReader.readFile(path, limit: 64 * 1024) else { return nil }
        let s = String(decoding: bytes, as: UTF8.self).trimmingSpaces()
        return s.isEmpty ? nil : s
    }

    private static func cString<T>(_ field: inout T) -> String {
        withUnsafeBytes(of: &field) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}
