/// What a volume mount is, for `ignoreVolumeMounts` / `ignoreVolumeFiles` (`enum defend_volume_kind`).
public enum VolumeKind: UInt32, Sendable, Hashable, CustomStringConvertible {
    /// A volume: emptyDir, hostPath, PVC/CSI, a plain bind mount of a directory. `ignoreVolumeMounts`.
    case volume = 1
    /// A file mount: a mounted file (a bind of a regular file, `/etc/hosts`, `/etc/resolv.conf`...) or
    /// a configMap, secret, projected or downwardAPI volume. `ignoreVolumeMounts` and `ignoreVolumeFiles`.
    case file = 2

    public var description: String { self == .file ? "file mount" : "volume" }

    /// Two classifications of one mount root (containers sharing a source): the one fewer selectors
    /// ignore (a volume), so sharing can never widen what is ignored.
    public func merged(_ other: VolumeKind) -> VolumeKind { self == .volume || other == .volume ? .volume : .file }
}

/// The kernel's identity of a mount's root (`struct defend_mount_key`): the root's inode number and its
/// filesystem's device in the kernel's dev_t encoding (`major << 20 | minor`), not stat(2)'s.
public struct VolumeMountKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var device: UInt32
    public var inode: UInt64
    public init(device: UInt32, inode: UInt64) { self.device = device; self.inode = inode }

    /// From stat(2)'s `st_dev` (glibc's encoding) and `st_ino`.
    public init(statDevice: UInt64, inode: UInt64) {
        self.init(device: Self.kernelDevice(statDevice), inode: inode)
    }

    /// glibc's `major()`/`minor()` of a `dev_t`, re-encoded as the kernel's internal `MKDEV`.
    public static func kernelDevice(_ dev: UInt64) -> UInt32 {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return UInt32(truncatingIfNeeded: (major << 20) | (minor & 0xfffff))
    }

    public var major: UInt32 { device >> 20 }
    public var minor: UInt32 { device & 0xfffff }
    public var description: String { "\(major):\(minor) inode \(inode)" }
    public static func < (a: Self, b: Self) -> Bool { (a.device, a.inode) < (b.device, b.inode) }
}
