import Foundation
import Testing
@testable import DefendEnrich

/// Writes small bbolt files page by page (the layout containerd's meta.db has), to check the reader
/// on branch pages, page-backed and inline nested buckets, and meta page selection.
private struct BoltImage {
    static let pageSize = 4096
    var pages: [[UInt8]] = []

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    static func header(id: UInt64, flags: UInt16, count: Int) -> [UInt8] {
        le(id) + le(flags) + le(UInt16(count)) + le(UInt32(0))
    }

    /// A leaf page image: elements (flags, key, value), keys sorted by the caller.
    static func leaf(id: UInt64, _ items: [(UInt32, String, [UInt8])]) -> [UInt8] {
        var out = header(id: id, flags: 0x02, count: items.count)
        var data: [UInt8] = []
        for (i, (flags, key, value)) in items.enumerated() {
            let elementStart = 16 + i * 16
            let pos = 16 + items.count * 16 + data.count - elementStart
            out += le(flags) + le(UInt32(pos)) + le(UInt32(key.utf8.count)) + le(UInt32(value.count))
            data += Array(key.utf8) + value
        }
        return out + data
    }

    static func branch(id: UInt64, _ items: [(String, UInt64)]) -> [UInt8] {
        var out = header(id: id, flags: 0x01, count: items.count)
        var data: [UInt8] = []
        for (i, (key, child)) in items.enumerated() {
            let pos = 16 + items.count * 16 + data.count - (16 + i * 16)
            out += le(UInt32(pos)) + le(UInt32(key.utf8.count)) + le(child)
            data += Array(key.utf8)
        }
        return out + data
    }

    static func bucket(root: UInt64) -> [UInt8] { le(root) + le(UInt64(0)) }
    static func inlineBucket(_ items: [(UInt32, String, [UInt8])]) -> [UInt8] { bucket(root: 0) + leaf(id: 0, items) }

    static func meta(id: UInt64, root: UInt64, highWater: UInt64, txid: UInt64, corrupt: Bool = false) -> [UInt8] {
        var m = le(UInt32(0xED0C_DAED)) + le(UInt32(2)) + le(UInt32(pageSize)) + le(UInt32(0))
        m += le(root) + le(UInt64(0)) + le(UInt64(0)) + le(highWater) + le(txid)
        m += le(BoltReader.fnv1a64(m) ^ (corrupt ? 1 : 0))
        return header(id: id, flags: 0x04, count: 0) + m
    }

    func write(to path: String) throws {
        var file: [UInt8] = []
        for p in pages { file += p + [UInt8](repeating: 0, count: Self.pageSize - p.count) }
        try Data(file).write(to: URL(fileURLWithPath: path))
    }
}

@Suite struct BoltReaderTests {
    /// v1 -> ns1 (branch page) -> containers (inline) -> c1 (inline) -> image; root = page 2 (or 7 in an older tx).
    func makeDatabase(corruptNewestMeta: Bool = false) throws -> String {
        typealias B = BoltImage
        var db = BoltImage()
        db.pages.append(B.meta(id: 0, root: 7, highWater: 8, txid: 10))
        db.pages.append(B.meta(id: 1, root: 2, highWater: 8, txid: 11, corrupt: corruptNewestMeta))
        db.pages.append(B.leaf(id: 2, [(1, "v1", B.bucket(root: 3))]))
        db.pages.append(B.leaf(id: 3, [(1, "ns1", B.bucket(root: 4))]))
        db.pages.append(B.branch(id: 4, [("aaa", 5), ("containers", 6)]))
        db.pages.append(B.leaf(id: 5, [(0, "aaa", Array("x".utf8)), (0, "bbb", Array("y".utf8))]))
        let c1 = B.inlineBucket([(0, "image", Array("localhost/tools/busybox-defend:1.0".utf8)),
                                 (0, "runtime", Array("io.containerd.runc.v2".utf8))])
        let c2 = B.inlineBucket([(0, "snapshotter", Array("overlayfs".utf8))])
        db.pages.append(B.leaf(id: 6, [(1, "containers", B.inlineBucket([(1, "c1", c1), (1, "c2", c2)])), (0, "zzz", [1])]))
        db.pages.append(B.leaf(id: 7, [(0, "old", [1])]))  // the root of the previous transaction
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bolt-\(UUID().uuidString).db").path
        try db.write(to: path)
        return path
    }

    @Test func followsBranchPagesAndInlineBuckets() throws {
        let path = try makeDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ContainerdMetadata.image(database: path, namespace: "ns1", id: "c1") == "localhost/tools/busybox-defend:1.0")
        #expect(ContainerdMetadata.image(database: path, namespace: "ns1", id: "c2") == nil, "no image key")
        #expect(ContainerdMetadata.image(database: path, namespace: "ns2", id: "c1") == nil, "no such namespace")
        let reader = try BoltReader(path: path)
        #expect(try reader.value(buckets: [Array("v1".utf8), Array("ns1".utf8)], key: Array("bbb".utf8)) == Array("y".utf8))
        #expect(try reader.value(buckets: [Array("v1".utf8), Array("ns1".utf8)], key: Array("zzz".utf8)) == [1])
        #expect(try reader.value(buckets: [Array("v1".utf8), Array("ns1".utf8)], key: Array("containers".utf8)) == nil,
                "a bucket is not a value")
    }

    @Test func usesTheNewestValidMetaPage() throws {
        let path = try makeDatabase(corruptNewestMeta: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try BoltReader(path: path)
        #expect(reader.rootPage == 7, "txid 11 fails its checksum, so txid 10 is used")
        #expect(try reader.value(buckets: [], key: Array("old".utf8)) == [1])
        #expect(ContainerdMetadata.image(database: path, namespace: "ns1", id: "c1") == nil)
        let good = try makeDatabase()
        defer { try? FileManager.default.removeItem(atPath: good) }
        #expect(try BoltReader(path: good).rootPage == 2)
    }

    @Test func rejectsFilesThatAreNotBolt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bolt-\(UUID().uuidString).db").path
        try Data(repeating: 7, count: 8192).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: BoltReader.Failure.notBolt(path)) { try BoltReader(path: path) }
        #expect(throws: BoltReader.Failure.self) { try BoltReader(path: path + ".absent") }
    }

    @Test func bundleWithoutImageAnnotationGetsTheImageFromMetaDB() throws {
        // <tmp>/root/io.containerd.metadata.v1.bolt/meta.db and a bundle whose work link points into <tmp>/root.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctr-meta-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/root/io.containerd.metadata.v1.bolt", withIntermediateDirectories: true)
        let db = try makeDatabase()
        try fm.moveItem(atPath: db, toPath: ContainerdMetadata.databasePath(root: dir + "/root"))
        let bundle = dir + "/state/io.containerd.runtime.v2.task/ns1/c1"
        try fm.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try #"{"ociVersion":"1.0.2-dev","process":{"args":["sh"]}}"#.write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: bundle + "/work", withDestinationPath: dir + "/root/io.containerd.runtime.v2.task/ns1/c1")

        let locator = BundleLocator.withContainerdStates([dir + "/state"])
        let d = try #require(locator.describe(ContainerRef(id: "c1", runtime: .containerd, namespace: "ns1")))
        #expect(d.image == "localhost/tools/busybox-defend:1.0")
        // An annotation wins over the database.
        try #"{"annotations":{"io.kubernetes.cri.image-name":"docker.io/library/nginx:1.25"}}"#
            .write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
        #expect(locator.describe(ContainerRef(id: "c1", runtime: .containerd, namespace: "ns1"))?.image == "docker.io/library/nginx:1.25")
    }

    @Test func containerdRootFromTheBundleWorkLink() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir + "/work",
                                                   withDestinationPath: "/var/lib/ctr-x/io.containerd.runtime.v2.task/ns1/c1")
        #expect(ContainerdMetadata.root(ofBundle: dir) == "/var/lib/ctr-x")
        #expect(ContainerdMetadata.databasePath(root: "/var/lib/ctr-x") == "/var/lib/ctr-x/io.containerd.metadata.v1.bolt/meta.db")
        #expect(ContainerdMetadata.root(ofBundle: dir + "/absent") == nil)
    }
}
