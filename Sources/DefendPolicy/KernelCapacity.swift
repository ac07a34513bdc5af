/// What the kernel's policy maps can hold (`bpf/defend_abi.h`; a kernel test checks the numbers agree).
public enum KernelCapacity {
    /// Entries of the `policy_paths` map (`DEFEND_POLICY_PATHS_MAX`): exact paths, `/dir/*` and
    /// `/dir/**` directories and process names, each distinct string once per section and kind.
    public static let pathEntries = 8192
    /// A reload writes the new policy's entries while the old policy's stay in force (the
    /// generation swap), so one policy may use at most half of the map: then any valid policy can
    /// replace any other, including itself.
    public static let pathEntriesPerPolicy = pathEntries / DEFEND_GENERATIONS
    static let DEFEND_GENERATIONS = 2
}

extension PolicyRules {
    /// Counts the distinct `policy_paths` entries the policy compiles to (as `CompiledPolicy` does)
    /// and reports, at the selector that crosses it, a policy larger than one generation's share.
    static func checkKernelCapacity(_ policy: Policy, parser: inout PolicyParser, prefix: String) {
        struct Key: Hashable { var section: PolicySection; var kind: String; var string: String }
        var keys: Set<Key> = []
        var crossing: (section: PolicySection, index: Int, location: SourceLocation)?
        for section in PolicySection.allCases {
            guard let rules = policy[section] else { continue }
            for (i, sel) in rules.selectors.enumerated() {
                for p in sel.pathCondition ?? [] {
                    keys.insert(Key(section: section, kind: "\(p.kind)", string: p.base))
                    // As CompiledPolicy: every directory above the base, and the base of a /dir/* or
                    // /dir/** pattern, is an `ancestor` entry (renames and removals of those trees).
                    let b = Array(p.base.utf8)
                    for j in b.indices where b[j] == UInt8(ascii: "/") && j > 0 {
                        keys.insert(Key(section: section, kind: "ancestor", string: String(decoding: b[..<j], as: UTF8.self)))
                    }
                    if p.kind != .exact && !b.isEmpty {
                        keys.insert(Key(section: section, kind: "ancestor", string: p.base))
                    }
                }
                if section == .process {
                    for n in sel.processName ?? [] { keys.insert(Key(section: section, kind: "name", string: n)) }
                }
                if crossing == nil, keys.count > KernelCapacity.pathEntriesPerPolicy {
                    crossing = (section, i, sel.location)
                }
            }
        }
        guard let crossing else { return }
        let base = prefix.isEmpty ? crossing.section.key : prefix + "." + crossing.section.key
        parser.error(at: crossing.location, "\(base).selectors[\(crossing.index)]",
                     "the policy needs \(keys.count) kernel path entries (distinct paths, directories and process names); "
                     + "the kernel map holds \(KernelCapacity.pathEntries), shared by the policy in force and the one that "
                     + "replaces it on reload, so one policy may use at most \(KernelCapacity.pathEntriesPerPolicy) "
                     + "(the limit is crossed at this selector)")
    }
}
