import DefendEvents

/// A policy compiled once into `KernelTables` (the kernel's map contents) plus the userspace
/// evaluator that runs the kernel's algorithm on them (see the `KernelTables` doc comment).
/// Evaluation does not allocate: it walks the path's UTF-8 bytes once, hashing incrementally.
public struct CompiledPolicy: Sendable {
    public let policy: Policy
    public let scope: PolicyScope
    public let tables: KernelTables
    private let index: PathIndex
    /// Selector names per section, bit i = names[i].
    private let names: [[String]]
    /// Container conditions per section, precompiled for `containerMasks`.
    private let containerConditions: [[ContainerConditions]]
    /// Per section: selectors whose container conditions are assumed to match while what they test is
    /// not yet known (they only appear in `exclude` of blocking responses).
    public let assumedWhenUnknown: [UInt64]

    public init(_ policy: Policy, scope: PolicyScope = .containers) {
        self.policy = policy
        self.scope = scope
        var t = KernelTables()
        var names: [[String]] = [[], []]
        var conditions: [[ContainerConditions]] = [[], []]
        var assumedWhenUnknown: [UInt64] = [0, 0]
        var paths: [PathKeyID: UInt64] = [:]
        var pathOrder: [PathKeyID] = []
        func addPath(_ id: PathKeyID, _ bit: UInt64) {
            if paths[id] == nil { pathOrder.append(id) }
            paths[id, default: 0] |= bit
        }
        for section in PolicySection.allCases {
            guard let rules = policy[section] else { continue }
            let s = section.rawValue
            for (i, sel) in rules.selectors.enumerated() where i < 64 {
                let bit: UInt64 = 1 << UInt64(i)
                names[s].append(sel.name)
                for op in sel.operations ?? section.operations { t.opMask[Int(op.rawValue)] |= bit }
                if let patterns = sel.pathCondition {
                    for p in patterns {
                        let kind: KernelTables.PathKind = switch p.kind {
                        case .exact: .exact
                        case .children: .child
                        case .descendants: .descendant
                        }
                        addPath(PathKeyID(section: section, kind: kind, string: p.base), bit)
                        // the directories whose rename or removal moves this pattern's names (in both
                        // sections: exec blocks follow renames and links too, lsm.bpf.c exec_names_gate)
                        let b = Array(p.base.utf8)
                        for i in b.indices where b[i] == UInt8(ascii: "/") && i > 0 {
                            addPath(PathKeyID(section: section, kind: .ancestor, string: String(decoding: b[..<i], as: UTF8.self)), bit)
                        }
                        if p.kind != .exact && !b.isEmpty {
                            addPath(PathKeyID(section: section, kind: .ancestor, string: p.base), bit)
                        }
                    }
                } else {
                    t.pathAnyMask[s] |= bit
                }
                let cc = ContainerConditions(sel)
                conditions[s].append(cc)
                if cc.isEmpty {
                    t.unknownContainerMask[s] |= bit
                    if scope == .all { t.hostMask[s] |= bit }
                }
                switch section {
                case .process:
                    if let procNames = sel.processName {
                        for n in procNames { addPath(PathKeyID(section: .process, kind: .name, string: n), bit) }
                    } else {
                        t.nameAnyMask |= bit
                    }
                    if sel.sessionLeaderInteractive != true { t.interactiveMask[0] |= bit }
                    if sel.sessionLeaderInteractive != false { t.interactiveMask[1] |= bit }
                case .file:
                    if sel.ignoreVolumeMounts != true {
                        t.volumeOkMask |= bit
                        if sel.ignoreVolumeFiles != true { t.fileMountOkMask |= bit }
                    }
                }
            }
            var blockMatch: UInt64 = 0, blockExclude: UInt64 = 0
            for r in rules.responses {
                var match: UInt64 = 0, exclude: UInt64 = 0
                for n in r.match { if let i = rules.selectorIndex(named: n), i < 64 { match |= 1 << UInt64(i) } }
                for n in r.exclude { if let i = rules.selectorIndex(named: n), i < 64 { exclude |= 1 << UInt64(i) } }
                t.responses[s].append(KernelTables.Response(match: match, exclude: exclude, actions: r.actions))
                if r.actions.contains(.block) { blockMatch |= match; blockExclude |= exclude }
            }
            // "Metadata not yet known" (see `containerMasks`): a selector with container conditions
            // that only ever excludes from a blocking response is assumed to match, so an operation a
            // pod's labels would spare is not blocked before the labels are known.
            var assumed: UInt64 = 0
            for (i, c) in conditions[s].enumerated() where !c.isEmpty {
                let bit: UInt64 = 1 << UInt64(i)
                if blockExclude & bit != 0 && blockMatch & bit == 0 { assumed |= bit }
            }
            t.unknownContainerMask[s] |= assumed
            assumedWhenUnknown[s] = assumed
        }
        t.pathEntries = pathOrder.map { id in
            KernelTables.PathEntry(section: id.section, kind: id.kind, string: id.string, mask: paths[id] ?? 0)
        }
        self.tables = t
        self.index = PathIndex(entries: t.pathEntries)
        self.names = names
        self.containerConditions = conditions
        self.assumedWhenUnknown = assumedWhenUnknown
    }

    private struct PathKeyID: Hashable {
        var section: PolicySection
        var kind: KernelTables.PathKind
        var string: String
    }

    // MARK: selector names

    /// Name of selector `bit` of `section`, nil when there is no such selector.
    public func selectorName(section: PolicySection, bit: Int) -> String? {
        let list = names[section.rawValue]
        return bit >= 0 && bit < list.count ? list[bit] : nil
    }

    /// Names of the selectors in `mask`, in declaration order (`cloud_defend.matched_selectors`).
    public func selectorNames(section: PolicySection, mask: UInt64) -> [String] {
        var out: [String] = []
        var m = mask
        while m != 0 {
            let bit = m.trailingZeroBitCount
            if let n = selectorName(section: section, bit: bit) { out.append(n) }
            m &= m - 1
        }
        return out
    }

    // MARK: containers

    /// The container-condition masks for tasks of `container` (nil = the host): what the agent
    /// writes into the kernel's `containers` map for the container's cgroup. Scope `containers`
    /// gives the host (0, 0); scope `all` gives the host the selectors without container conditions.
    public func containerMasks(for container: ContainerContext?, scope: PolicyScope? = nil)
        -> (file: UInt64, process: UInt64) {
        guard let container else {
            if (scope ?? self.scope) == .containers { return (0, 0) }
            // The selectors without container conditions (not the undescribed-container mask,
            // which also holds the selectors assumed while metadata is not known).
            return (noConditionMask(.file), noConditionMask(.process))
        }
        let image = ContainerConditions.ImageFacts(container)
        func mask(_ section: PolicySection) -> UInt64 {
            var m: UInt64 = 0
            for (i, c) in containerConditions[section.rawValue].enumerated() {
                let bit: UInt64 = 1 << UInt64(i)
                switch c.evaluate(container, image) {
                case .some(true): m |= bit
                case .some(false): break
                // A condition on metadata still expected: the same answer as the kernel's
                // undescribed-container mask (match only if assumed, i.e. an exclude of a block).
                case .none: if assumedWhenUnknown[section.rawValue] & bit != 0 { m |= bit }
                }
            }
            return m
        }
        return (mask(.file), mask(.process))
    }

    private func noConditionMask(_ section: PolicySection) -> UInt64 {
        tables.unknownContainerMask[section.rawValue] & ~assumedWhenUnknown[section.rawValue]
    }

    // MARK: evaluation

    /// Convenience evaluation of one operation (computes the container mask; not the hot path).
    public func evaluate(_ event: PolicyEvent) -> PolicyVerdict {
        let masks = containerMasks(for: event.container)
        let cmask = event.section == .file ? masks.file : masks.process
        return evaluate(operation: event.operation, path: event.path, processName: event.processName,
                        interactive: event.interactive, volume: event.volume, containerMask: cmask,
                        pathState: event.pathState)
    }

    /// The hot path: evaluates one operation given the container mask of its section (from
    /// `containerMasks`, cached per container by the caller). Does not allocate, except to extend a
    /// `.truncated` path (rare). `pathState`: how completely the kernel resolved the path.
    public func evaluate(operation: PolicyOperation, path: String?, processName: String?, interactive: Bool?,
                         volume: VolumeState, containerMask: UInt64, pathState: PathState = .complete) -> PolicyVerdict {
        let section = operation.section
        let s = section.rawValue
        let t = tables
        var m = t.opMask[Int(operation.rawValue)] & containerMask
        if m == 0 { return .none }
        // An unresolved path: every path condition may match (kept in m, but unable to exclude).
        let unresolved = path != nil && pathState == .unresolved
        m &= unresolved ? ~0 : pathMask(section, pathState == .truncated ? path.map { $0 + PathLimits.continuation } : path)
        if m == 0 { return .none }
        switch section {
        case .process:
            m &= nameMask(processName)
            switch interactive {
            case .some(true): m &= t.interactiveMask[1]
            case .some(false): m &= t.interactiveMask[0]
            case .none: m &= t.interactiveMask[0] & t.interactiveMask[1]
            }
        case .file:
            switch volume {
            case .none: break
            case .volumeMount: m &= t.volumeOkMask
            case .fileMount: m &= t.fileMountOkMask
            }
        }
        if m == 0 { return .none }
        let unknown = unresolved ? m & ~t.pathAnyMask[s] : 0
        let known = m & ~unknown
        var actions: ActionSet = []
        var selectors: UInt64 = 0
        t.responses[s].withUnsafeBufferPointer { responses in
            for r in responses where m & r.match != 0 && known & r.exclude == 0 {
                actions.formUnion(r.actions)
                selectors |= m & r.match
            }
        }
        if unknown != 0 && actions.contains(.block) { actions.insert(.alert) }  // fail closed, loudly
        return PolicyVerdict(actions: actions, selectors: selectors, matched: m)
    }

    /// pathAnyMask | EXACT(path) | CHILD(parent) | DESCENDANT(each ancestor), in one pass.
    @inline(__always)
    private func pathMask(_ section: PolicySection, _ path: String?) -> UInt64 {
        var mask = tables.pathAnyMask[section.rawValue]
        guard let path else { return mask }
        let hasExact = index.has(.exact, section), hasChild = index.has(.child, section)
        let hasDescendant = index.has(.descendant, section)
        if !(hasExact || hasChild || hasDescendant) { return mask }
        var text = path
        text.withUTF8 { buf in
            guard let p = buf.baseAddress, buf.count > 0, p[0] == UInt8(ascii: "/") else { return }
            let n = buf.count
            var h = FNV1a.offset
            var parentLen = -1
            var parentHash = FNV1a.offset
            for i in 0..<n {
                let c = p[i]
                // A '/' followed by more bytes closes an ancestor directory: the bytes before it.
                if c == UInt8(ascii: "/") && i + 1 < n {
                    if hasDescendant {
                        mask |= index.lookup(hash: h, base: p, len: i, section: section, kind: .descendant)
                    }
                    parentLen = i
                    parentHash = h
                }
                h = (h ^ UInt64(c)) &* FNV1a.prime
            }
            if hasChild && parentLen >= 0 {
                mask |= index.lookup(hash: parentHash, base: p, len: parentLen, section: section, kind: .child)
            }
            if hasExact {
                mask |= index.lookup(hash: h, base: p, len: n, section: section, kind: .exact)
            }
        }
        return mask
    }

    /// nameAnyMask | NAME(first 15 bytes of comm).
    @inline(__always)
    private func nameMask(_ processName: String?) -> UInt64 {
        var mask = tables.nameAnyMask
        guard let processName, index.has(.name, .process) else { return mask }
        var name = processName
        name.withUTF8 { buf in
            guard let p = buf.baseAddress else { return }
            let n = min(buf.count, 15)
            var h = FNV1a.offset
            for i in 0..<n { h = (h ^ UInt64(p[i])) &* FNV1a.prime }
            mask |= index.lookup(hash: h, base: p, len: n, section: .process, kind: .name)
        }
        return mask
    }
}
