import DefendEvents

/// Open-addressing table over `KernelTables.pathEntries`, keyed like the kernel's `policy_paths`
/// map: (FNV-1a hash, byte length, section, kind); the stored bytes are compared on a hit so a
/// hash collision can never produce a match. Lookups do not allocate.
struct PathIndex: Sendable {
    private struct Key: Sendable {
        var hash: UInt64
        var len: Int
        var section: UInt8
        var kind: UInt8
        var offset: Int
        var mask: UInt64
    }

    private var slots: [Int32]
    private var keys: [Key] = []
    private var bytes: [UInt8] = []
    private let slotMask: Int
    /// Bit (kind) set when some entry of that section has that kind: lets the walk skip lookups.
    private(set) var kindsPresent: [UInt8] = [0, 0]

    init(entries: [KernelTables.PathEntry]) {
        var capacity = 8
        while capacity < entries.count * 2 { capacity <<= 1 }
        slots = Array(repeating: -1, count: capacity)
        slotMask = capacity - 1
        for e in entries {
            let utf8 = Array(e.string.utf8)
            let key = Key(hash: FNV1a.hash(utf8), len: utf8.count, section: UInt8(e.section.rawValue),
                          kind: e.kind.rawValue, offset: bytes.count, mask: e.mask)
            bytes.append(contentsOf: utf8)
            var i = Self.slot(key.hash, slotMask)
            while slots[i] >= 0 { i = (i + 1) & slotMask }
            slots[i] = Int32(keys.count)
            keys.append(key)
            kindsPresent[e.section.rawValue] |= 1 << e.kind.rawValue
        }
    }

    @inline(__always)
    private static func slot(_ hash: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: hash ^ (hash >> 29)) & mask
    }

    @inline(__always)
    func has(_ kind: KernelTables.PathKind, _ section: KernelTables.Section) -> Bool {
        kindsPresent[section.rawValue] & (1 << kind.rawValue) != 0
    }

    /// Mask of the entry whose string is `base[0..<len]` (hash precomputed), or 0.
    @inline(__always)
    func lookup(hash: UInt64, base: UnsafePointer<UInt8>, len: Int, section: KernelTables.Section,
                kind: KernelTables.PathKind) -> UInt64 {
        let sec = UInt8(section.rawValue), k = kind.rawValue
        var i = Self.slot(hash, slotMask)
        return slots.withUnsafeBufferPointer { slots in
            keys.withUnsafeBufferPointer { keys in
                bytes.withUnsafeBufferPointer { stored in
                    while true {
                        let s = Int(slots[i])
                        if s < 0 { return 0 }
                        let key = keys[s]
                        if key.hash == hash && key.len == len && key.section == sec && key.kind == k {
                            if len == 0 { return key.mask }
                            if let sb = stored.baseAddress, memEqual(sb + key.offset, base, len) { return key.mask }
                        }
                        i = (i + 1) & slotMask
                    }
                }
            }
        }
    }

    @inline(__always)
    private func memEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}
