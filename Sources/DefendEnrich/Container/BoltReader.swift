#if canImport(Glibc)
import Glibc
#endif

/// Read-only lookups in a bbolt database file (the format of containerd's metadata store), enough to
/// follow nested buckets to one key. Pages are read with pread as needed, never the whole file, and
/// no lock is taken: the writer (containerd) holds an exclusive flock, and bbolt's copy-on-write pages
/// referenced by the newest valid meta page stay intact while we read (best effort: a page reused by
/// a later transaction is detected as malformed and the lookup gives nil).
///
/// Format (little endian): page header {id u64, flags u16, count u16, overflow u32}; pages 0 and 1
/// are meta pages {magic 0xED0CDAED, version 2, pageSize, flags, root bucket {pgid, sequence},
/// freelist, high-water pgid, txid, FNV-1a 64 checksum of the preceding 56 bytes}; branch pages hold
/// {pos u32, ksize u32, pgid u64} elements, leaf pages {flags u32, pos u32, ksize u32, vsize u32}
/// (flags bit 0 = the value is a nested bucket {root pgid, sequence}, root 0 = inline page follows).
public struct BoltReader {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case cannotOpen(String, errno: Int32)
        case notBolt(String)
        case malformed(String, page: UInt64)

        public var description: String {
            switch self {
            case .cannotOpen(let p, let e): return "\(p): cannot open (errno \(e))"
            case .notBolt(let p): return "\(p): not a bbolt database (no valid meta page)"
            case .malformed(let p, let page): return "\(p): malformed page \(page)"
            }
        }
    }

    public let path: String
    let pageSize: Int
    let rootPage: UInt64
    let highWater: UInt64
    /// Bound on pages visited per lookup (a corrupt cycle cannot loop forever).
    var maxPagesPerLookup = 4096

    private static let pageHeaderSize = 16
    private static let branchFlag: UInt16 = 0x01, leafFlag: UInt16 = 0x02, metaFlag: UInt16 = 0x04
    private static let bucketLeafFlag: UInt32 = 0x01

    /// Reads and validates the meta pages.
    public init(path: String) throws(Failure) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path, errno: errno) }
        defer { close(fd) }
        // Meta page 0 is at offset 0; page 1 sits at pageSize, which page 0 tells (4096 is the usual).
        var metas: [Meta] = []
        if let m0 = Self.readMeta(fd, offset: 0) { metas.append(m0) }
        let second = metas.first.map { Int($0.pageSize) } ?? 4096
        if let m1 = Self.readMeta(fd, offset: second) { metas.append(m1) }
        guard let best = metas.max(by: { $0.txid < $1.txid }) else { throw .notBolt(path) }
        pageSize = Int(best.pageSize)
        rootPage = best.root
        highWater = best.highWater
    }

    /// The value at `key` inside the nested buckets `buckets` (outermost first); nil when absent.
    public func value(buckets: [[UInt8]], key: [UInt8]) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path, errno: errno) }
        defer { close(fd) }
        var budget = maxPagesPerLookup
        var bucket = BucketRef.page(rootPage)
        for name in buckets {
            guard let (flags, value) = try find(fd, bucket, name, &budget), flags & Self.bucketLeafFlag != 0 else { return nil }
            bucket = try Self.bucketRef(value, path: path)
        }
        guard let (flags, value) = try find(fd, bucket, key, &budget), flags & Self.bucketLeafFlag == 0 else { return nil }
        return value
    }

    // MARK: internals

    struct Meta { var pageSize: UInt32; var root: UInt64; var highWater: UInt64; var txid: UInt64 }

    private enum BucketRef {
        case page(UInt64)
        case inline([UInt8])   // a page image (header + elements) stored in the parent's value
    }

    static func readMeta(_ fd: Int32, offset: Int) -> Meta? {
        var buf = [UInt8](repeating: 0, count: pageHeaderSize + 64)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == buf.count, u16(buf, 8) & metaFlag != 0 else { return nil }
        let m = pageHeaderSize
        guard u32(buf, m) == 0xED0C_DAED, u32(buf, m + 4) == 2 else { return nil }
        let size = u32(buf, m + 8)
        guard size >= 512, size <= 1 << 20, size & (size - 1) == 0 else { return nil }
        guard fnv1a64(buf[m..<(m + 56)]) == u64(buf, m + 56) else { return nil }
        return Meta(pageSize: size, root: u64(buf, m + 16), highWater: u64(buf, m + 40), txid: u64(buf, m + 48))
    }

    private static func bucketRef(_ value: [UInt8], path: String) throws(Failure) -> BucketRef {
        guard value.count >= 16 else { throw .malformed(path, page: 0) }
        let root = u64(value, 0)
        return root == 0 ? .inline(Array(value[16...])) : .page(root)
    }

    /// Searches one bucket's B+tree for `key`; returns the leaf element's flags and value.
    private func find(_ fd: Int32, _ bucket: BucketRef, _ key: [UInt8], _ budget: inout Int)
        throws(Failure) -> (UInt32, [UInt8])? {
        var page: [UInt8]
        var id: UInt64 = 0
        switch bucket {
        case .inline(let bytes): page = bytes
        case .page(let p): id = p; page = try read(fd, page: p, &budget)
        }
        while true {
            guard page.count >= Self.pageHeaderSize else { throw .malformed(path, page: id) }
            let flags = Self.u16(page, 8), count = Int(Self.u16(page, 10))
            if flags & Self.leafFlag != 0 {
                for i in 0..<count {
                    let e = Self.pageHeaderSize + i * 16
                    guard e + 16 <= page.count else { throw .malformed(path, page: id) }
                    let pos = Int(Self.u32(page, e + 4)), ks = Int(Self.u32(page, e + 8)), vs = Int(Self.u32(page, e + 12))
                    let k = e + pos
                    guard k + ks + vs <= page.count else { throw .malformed(path, page: id) }
                    if page[k..<(k + ks)].elementsEqual(key) {
                        return (Self.u32(page, e), Array(page[(k + ks)..<(k + ks + vs)]))
                    }
                }
                return nil
            }
            guard flags & Self.branchFlag != 0, count > 0 else { throw .malformed(path, page: id) }
            // The last element whose key is <= the searched key (the first when all are greater).
            var child = UInt64(0)
            for i in 0..<count {
                let e = Self.pageHeaderSize + i * 16
                guard e + 16 <= page.count else { throw .malformed(path, page: id) }
                let pos = Int(Self.u32(page, e)), ks = Int(Self.u32(page, e + 4))
                guard e + pos + ks <= page.count else { throw .malformed(path, page: id) }
                if i > 0, key.lexicographicallyPrecedes(page[(e + pos)..<(e + pos + ks)]) { break }
                child = Self.u64(page, e + 8)
            }
            id = child
            page = try read(fd, page: child, &budget)
        }
    }

    private func read(_ fd: Int32, page id: UInt64, _ budget: inout Int) throws(Failure) -> [UInt8] {
        budget -= 1
        guard budget >= 0, id >= 2, id < highWater else { throw .malformed(path, page: id) }
        var header = [UInt8](repeating: 0, count: Self.pageHeaderSize)
        let offset = off_t(Int(id) * pageSize)
        guard header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, $0.count, offset) }) == Self.pageHeaderSize,
              Self.u64(header, 0) == id else { throw .malformed(path, page: id) }
        let overflow = Int(Self.u32(header, 12))
        // 4 MiB with 4 KiB pages: far above any containerd record
        guard overflow < 1024 else { throw .malformed(path, page: id) }
        let size = (overflow + 1) * pageSize
        var page = [UInt8](repeating: 0, count: size)
        guard page.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, $0.count, offset) }) == size else {
            throw .malformed(path, page: id)
        }
        return page
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) }
    }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) }
    }
    static func fnv1a64<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
