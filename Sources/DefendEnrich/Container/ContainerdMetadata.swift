#if canImport(Glibc)
import Glibc
#endif

/// The image of a containerd container from containerd's own metadata store, for containers whose
/// bundle carries no image annotation (plain `ctr run`, nerdctl): bucket path
/// `v1/<namespace>/containers/<id>`, key `image`, in `<root>/io.containerd.metadata.v1.bolt/meta.db`.
/// The root is found from the bundle: its `work` link points at `<root>/io.containerd.runtime.v2.task/<ns>/<id>`.
public enum ContainerdMetadata {
    /// `<root>` of the containerd that owns the bundle directory, nil when the `work` link is missing.
    public static func root(ofBundle bundle: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(bundle + "/work", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var parts = target.split(separator: "/", omittingEmptySubsequences: true)
        // .../<root>/io.containerd.runtime.v2.task/<ns>/<id>
        guard parts.count >= 3, parts[parts.count - 3] == "io.containerd.runtime.v2.task" else { return nil }
        parts.removeLast(3)
        return "/" + parts.joined(separator: "/")
    }

    public static func databasePath(root: String) -> String { root + "/io.containerd.metadata.v1.bolt/meta.db" }

    /// The image reference recorded for container `id` in `namespace`; nil when unknown or unreadable.
    public static func image(database: String, namespace: String, id: String) -> String? {
        guard let reader = try? BoltReader(path: database),
              let value = try? reader.value(buckets: [Array("v1".utf8), Array(namespace.utf8), Array("containers".utf8),
                                                      Array(id.utf8)], key: Array("image".utf8)),
              !value.isEmpty else { return nil }
        return String(decoding: value, as: UTF8.self)
    }
}
