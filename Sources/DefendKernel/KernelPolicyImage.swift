import CLibBPF
import DefendEvents
import DefendPolicy

/// `KernelTables` converted into the exact values written to the kernel maps for one
/// generation: the `policy` array value and the `policy_paths` entries.
struct KernelPolicyImage {
    var policy: defend_policy
    var paths: [(key: defend_path_key, value: defend_path_value)]

    init(_ tables: KernelTables, generation: UInt32) throws(SensorError) {
        var p = defend_policy()
        p.flags = UInt32(DEFEND_PF_LOADED) | (tables.processTelemetry ? UInt32(DEFEND_PF_PROCESS_TELEMETRY) : 0)
            | (tables.blocksExecutablesByPath ? UInt32(DEFEND_PF_EXEC_PATH_BLOCK) : 0)
        guard tables.opMask.count == Int(DEFEND_OP_COUNT.rawValue) else {
            throw .policyTooLarge("opMask has \(tables.opMask.count) entries, expected \(DEFEND_OP_COUNT.rawValue)")
        }
        for section in 0..<2 where tables.responses.count > section && tables.responses[section].count > 64 {
            throw .policyTooLarge("section \(section) has \(tables.responses[section].count) responses (max 64)")
        }
        withUnsafeMutableBytes(of: &p) { b in
            func put(_ v: UInt64, _ offset: Int) { b.storeBytes(of: v, toByteOffset: offset, as: UInt64.self) }
            func put32(_ v: UInt32, _ offset: Int) { b.storeBytes(of: v, toByteOffset: offset, as: UInt32.self) }
            let L = MemoryLayout<defend_policy>.self
            for (i, m) in tables.opMask.enumerated() { put(m, L.offset(of: \.op_mask)! + 8 * i) }
            for i in 0..<2 {
                put(tables.pathAnyMask[safe: i], L.offset(of: \.path_any_mask)! + 8 * i)
                put(tables.interactiveMask[safe: i], L.offset(of: \.interactive_mask)! + 8 * i)
                put(tables.hostMask[safe: i], L.offset(of: \.host_mask)! + 8 * i)
                put(tables.unknownContainerMask[safe: i], L.offset(of: \.unknown_container_mask)! + 8 * i)
            }
            put(tables.nameAnyMask, L.offset(of: \.name_any_mask)!)
            put(tables.volumeOkMask, L.offset(of: \.volume_ok_mask)!)
            put(tables.fileMountOkMask, L.offset(of: \.file_mount_ok_mask)!)
            let rsize = MemoryLayout<defend_response>.stride
            let rbase = L.offset(of: \.responses)!
            for section in 0..<min(2, tables.responses.count) {
                let list = tables.responses[section]
                put32(UInt32(list.count), L.offset(of: \.response_count)! + 4 * section)
                for (i, r) in list.enumerated() {
                    let o = rbase + (section * Int(DEFEND_MAX_RULES) + i) * rsize
                    put(r.match, o + MemoryLayout<defend_response>.offset(of: \.match)!)
                    put(r.exclude, o + MemoryLayout<defend_response>.offset(of: \.exclude)!)
                    put32(r.actions.rawValue, o + MemoryLayout<defend_response>.offset(of: \.actions)!)
                }
            }
        }
        policy = p
        paths = []
        var index: [EntryID: Int] = [:]
        for entry in tables.pathEntries {
            let bytes = Array(entry.string.utf8)
            let limit = entry.kind == .name ? 15 : Int(DEFEND_PATTERN_MAX) - 1
            guard bytes.count <= limit else {
                throw .policyTooLarge("\(entry.kind) entry '\(entry.string)' is \(bytes.count) bytes (max \(limit))")
            }
            var key = defend_path_key()
            key.hash = FNV1a.hash(bytes)
            key.generation = generation
            key.len = UInt16(bytes.count)
            key.section = UInt8(entry.section.rawValue)
            key.kind = entry.kind.rawValue
            var value = defend_path_value()
            value.mask = entry.mask
            withUnsafeMutableBytes(of: &value.str) { s in s.copyBytes(from: bytes) }
            // Two selectors may share a string: merge their masks under one key.
            let id = EntryID(hash: key.hash, len: key.len, section: key.section, kind: key.kind)
            if let i = index[id] {
                paths[i].value.mask |= entry.mask
            } else {
                index[id] = paths.count
                paths.append((key, value))
            }
        }
        let words = Int(DEFEND_PATH_FILTER_BITS) / 64
        withUnsafeMutableBytes(of: &policy.path_filter) { b in
            precondition(b.count == words * 8, "path_filter size disagrees with DEFEND_PATH_FILTER_BITS")
            for entry in paths {
                let bit = KernelPolicyImage.filterBit(entry.key)
                let offset = (bit >> 6) * 8
                b.storeBytes(of: b.load(fromByteOffset: offset, as: UInt64.self) | 1 << UInt64(bit & 63),
                             toByteOffset: offset, as: UInt64.self)
            }
        }
    }

    /// `DEFEND_PATH_FILTER_BIT` of defend_abi.h: the `path_filter` bit of a `policy_paths` key.
    static func filterBit(_ key: defend_path_key) -> Int {
        let sectionKind = UInt64(key.section) << 8 | UInt64(key.kind)
        let mixed = key.hash &+ UInt64(key.len) &* DEFEND_FILTER_MIX_LEN &+ sectionKind &* DEFEND_FILTER_MIX_KIND
        return Int(mixed >> 49)
    }

    /// Whether `bit` of the policy's `path_filter` is set.
    func filterHas(_ bit: Int) -> Bool {
        withUnsafeBytes(of: policy.path_filter) { b in
            b.load(fromByteOffset: (bit >> 6) * 8, as: UInt64.self) & (1 << UInt64(bit & 63)) != 0
        }
    }

    private struct EntryID: Hashable {
        var hash: UInt64, len: UInt16, section: UInt8, kind: UInt8
    }

    /// Policy value that carries only the telemetry flag (no policy loaded).
    static func telemetryOnly(_ on: Bool) -> defend_policy {
        var p = defend_policy()
        p.flags = on ? UInt32(DEFEND_PF_PROCESS_TELEMETRY) : 0
        return p
    }
}

extension Array where Element == UInt64 {
    subscript(safe i: Int) -> UInt64 { i < count ? self[i] : 0 }
}
