import CLibBPF
import Glibc
import Synchronization

/// libbpf's log, routed into a bounded in-memory tail: verifier output is attached to load
/// errors instead of being printed to stderr.
enum LibBPFLog {
    private static let lines = Mutex<[String]>([])
    private static let installed = Mutex<Bool>(false)

    static func install() {
        installed.withLock { done in
            guard !done else { return }
            done = true
            defend_libbpf_set_logger { _, line in
                guard let line else { return }
                let text = String(cString: line)
                LibBPFLog.lines.withLock { buf in
                    buf.append(text)
                    if buf.count > 400 { buf.removeFirst(buf.count - 400) }
                }
            }
        }
    }

    /// The last `count` lines logged, joined (and the buffer cleared).
    static func drain(last count: Int = 40, maxBytes: Int = 24_000) -> String {
        lines.withLock { buf in
            var tail = buf.suffix(count).joined()
            if tail.utf8.count > maxBytes { tail = "...\n" + String(decoding: tail.utf8.suffix(maxBytes), as: UTF8.self) }
            buf.removeAll()
            return tail
        }
    }
}

func errnoText(_ code: Int32) -> String {
    let e = code < 0 ? -code : code
    return "\(String(cString: strerror(e))) (errno \(e))"
}

/// One map of a loaded object, by fd. Keys and values are passed as raw bytes of Swift values
/// whose layout is the C struct imported from defend_abi.h.
struct BPFMap: @unchecked Sendable {
    let name: String
    let handle: OpaquePointer  // struct bpf_map *

    var fd: Int32 { bpf_map__fd(handle) }

    func update<K, V>(_ key: K, _ value: V) throws(SensorError) {
        var k = key, v = value
        let rc = withUnsafeBytes(of: &k) { kb in
            withUnsafeBytes(of: &v) { vb in
                bpf_map_update_elem(fd, kb.baseAddress, vb.baseAddress, UInt64(BPF_ANY))
            }
        }
        if rc != 0 { throw .mapUpdate(map: name, errno: errno) }
    }

    func delete<K>(_ key: K) throws(SensorError) {
        var k = key
        let rc = withUnsafeBytes(of: &k) { kb in bpf_map_delete_elem(fd, kb.baseAddress) }
        if rc != 0 && errno != ENOENT { throw .mapDelete(map: name, errno: errno) }
    }

    /// Every key of a hash map whose keys are u64 (bounded by `limit`).
    func u64Keys(limit: Int = 1 << 20) -> [UInt64] {
        var keys: [UInt64] = []
        var next: UInt64 = 0
        var rc = bpf_map_get_next_key(fd, nil, &next)
        while rc == 0, keys.count < limit {
            keys.append(next)
            var current = next
            rc = bpf_map_get_next_key(fd, &current, &next)
        }
        return keys
    }

    /// Per-CPU u64 values of one key, summed.
    func sumPerCPU(key: UInt32) -> UInt64 {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return 0 }
        var values = [UInt64](repeating: 0, count: cpus)
        var k = key
        let rc = values.withUnsafeMutableBytes { vb in bpf_map_lookup_elem(fd, &k, vb.baseAddress) }
        return rc == 0 ? values.reduce(0, &+) : 0
    }
}

/// An opened (and then loaded) BPF object with its attach links.
final class BPFObject: @unchecked Sendable {
    let name: String
    let handle: OpaquePointer  // struct bpf_object *
    private var links: [OpaquePointer] = []

    /// Opens an embedded object. libbpf reads `bytes` until load, so open and load happen
    /// together in `openAndLoad` while the buffer is pinned.
    private init(name: String, handle: OpaquePointer) {
        self.name = name
        self.handle = handle
    }

    /// Opens `bytes`, lets `prepare` adjust it (map sizes, map re-use, autoload), then loads.
    static func openAndLoad(name: String, bytes: [UInt8],
                            prepare: (BPFObject) throws(SensorError) -> Void) throws(SensorError) -> BPFObject {
        LibBPFLog.install()
        let result: Result<BPFObject, SensorError> = bytes.withUnsafeBytes { buf in
            name.withCString { cname in
                var opts = bpf_object_open_opts()
                opts.sz = MemoryLayout<bpf_object_open_opts>.size
                opts.object_name = cname
                guard let obj = bpf_object__open_mem(buf.baseAddress, buf.count, &opts) else {
                    return .failure(.objectOpen(object: name, errno: errno))
                }
                let object = BPFObject(name: name, handle: obj)
                do throws(SensorError) { try prepare(object) } catch {
                    bpf_object__close(obj)
                    return .failure(error)
                }
                _ = LibBPFLog.drain()
                let rc = bpf_object__load(obj)
                if rc != 0 {
                    let log = LibBPFLog.drain()
                    bpf_object__close(obj)
                    return .failure(.objectLoad(object: name, errno: rc, log: log))
                }
                return .success(object)
            }
        }
        return try result.get()
    }

    func map(_ mapName: String) throws(SensorError) -> BPFMap {
        guard let m = bpf_object__find_map_by_name(handle, mapName) else {
            throw .missingMap(object: name, map: mapName)
        }
        return BPFMap(name: mapName, handle: m)
    }

    var programNames: [String] {
        var names: [String] = []
        var prog = bpf_object__next_program(handle, nil)
        while let p = prog {
            names.append(String(cString: bpf_program__name(p)))
            prog = bpf_object__next_program(handle, p)
        }
        return names
    }

    /// Keeps a program from loading (before load).
    func disable(program: String) {
        if let p = bpf_object__find_program_by_name(handle, program) { bpf_program__set_autoload(p, false) }
    }

    /// The program was loaded (autoload not switched off).
    func isLoaded(_ program: String) -> Bool {
        guard let p = bpf_object__find_program_by_name(handle, program) else { return false }
        return bpf_program__autoload(p)
    }

    /// Attaches one program by its SEC() definition; nil on success, else the reason.
    func attach(program: String) -> String? {
        guard let p = bpf_object__find_program_by_name(handle, program) else { return "no such program" }
        _ = LibBPFLog.drain()
        guard let link = bpf_program__attach(p) else {
            let code = errno
            let log = LibBPFLog.drain(last: 2).trimmingTrailingNewlines()
            return errnoText(code) + (log.isEmpty ? "" : " [\(log)]")
        }
        if libbpf_get_error(UnsafeRawPointer(link)) != 0 {
            return errnoText(Int32(truncatingIfNeeded: libbpf_get_error(UnsafeRawPointer(link))))
        }
        links.append(link)
        return nil
    }

    func close() {
        for l in links { bpf_link__destroy(l) }
        links.removeAll()
        bpf_object__close(handle)
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s.replacingNewlines()
    }
    private func replacingNewlines() -> String {
        String(map { $0 == "\n" ? " " : $0 })
    }
}
