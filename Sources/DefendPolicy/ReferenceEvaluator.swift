import DefendEvents

/// The obviously-correct evaluator: walks the parsed `Policy` selector by selector, condition by
/// condition, with plain string operations. Tests use it as the oracle for `CompiledPolicy`;
/// `defend policy test --explain` uses it to say which condition failed.
public struct ReferenceEvaluator: Sendable {
    public let policy: Policy
    public let scope: PolicyScope

    public init(_ policy: Policy, scope: PolicyScope = .containers) {
        self.policy = policy; self.scope = scope
    }

    /// Result for one selector: nil = matched, else the reason it did not.
    public typealias SelectorOutcome = (name: String, failure: String?)

    public struct Result: Sendable {
        public var actions: ActionSet
        /// `cloud_defend.matched_selectors`, declaration order.
        public var matchedSelectors: [String]
        /// Every selector of the operation's section with its outcome, declaration order.
        public var outcomes: [(name: String, failure: String?)]
    }

    public func evaluate(_ event: PolicyEvent) -> Result {
        guard let rules = policy[event.section] else { return Result(actions: [], matchedSelectors: [], outcomes: []) }
        if event.container == nil && scope == .containers {
            let why = "operation outside a container (scope containers evaluates container operations only)"
            return Result(actions: [], matchedSelectors: [], outcomes: rules.selectors.map { ($0.name, why) })
        }
        let outcomes = rules.selectors.map { (name: $0.name, failure: failure($0, event)) }
        let matched = Set(outcomes.filter { $0.failure == nil }.map(\.name))
        // With an unresolved path, selectors with a path condition only may match: they count for
        // `match` but cannot exclude (PathLimits).
        let unresolved = event.path != nil && event.pathState == .unresolved
        let mayOnly = Set(rules.selectors.filter { unresolved && $0.pathCondition != nil && matched.contains($0.name) }.map(\.name))
        let known = matched.subtracting(mayOnly)
        var actions: ActionSet = []
        var reported: Set<String> = []
        for r in rules.responses {
            let fires = r.match.contains(where: matched.contains) && !r.exclude.contains(where: known.contains)
            if fires {
                actions.formUnion(r.actions)
                reported.formUnion(r.match.filter(matched.contains))
            }
        }
        if !mayOnly.isEmpty && actions.contains(.block) { actions.insert(.alert) }
        let names = rules.selectors.map(\.name).filter(reported.contains)
        return Result(actions: actions, matchedSelectors: names, outcomes: outcomes)
    }

    /// Why `sel` does not match `e` (nil when it matches). Conditions are checked in a fixed order
    /// and the first failing one is named.
    public func failure(_ sel: PolicySelector, _ e: PolicyEvent) -> String? {
        if let ops = sel.operations, !ops.contains(e.operation) {
            return "operation: \(e.operation.policyName) is not one of [\(ops.map(\.policyName).joined(separator: ", "))]"
        }
        if let patterns = sel.pathCondition {
            let field = sel.section == .file ? "targetFilePath" : "processExecutable"
            guard let path = e.path else { return "\(field): the path is unknown" }
            // an unresolved path may match (see evaluate)
            let judged = e.pathState == .truncated ? path + PathLimits.continuation : path
            if e.pathState != .unresolved && !patterns.contains(where: { Self.pathMatches($0, judged) }) {
                return "\(field): \(path) " + Self.describeMiss(patterns)
            }
        }
        if let names = sel.processName {
            guard let name = e.processName else { return "processName: the process name is unknown" }
            let comm = Array(name.utf8.prefix(15))
            if !names.contains(where: { Array($0.utf8) == comm }) {
                return "processName: \(name) is not one of [\(names.joined(separator: ", "))]"
            }
        }
        if let want = sel.sessionLeaderInteractive {
            guard let have = e.interactive else { return "sessionLeaderInteractive: interactivity is unknown" }
            if have != want { return "sessionLeaderInteractive: the session is \(have ? "" : "not ")interactive" }
        }
        if sel.section == .file {
            if sel.ignoreVolumeMounts == true && e.volume != .none {
                return "ignoreVolumeMounts: the target is on a volume mount"
            }
            if sel.ignoreVolumeFiles == true && e.volume == .fileMount {
                return "ignoreVolumeFiles: the target is a file mount"
            }
        }
        return containerFailure(sel, e.container)
    }

    private func containerFailure(_ sel: PolicySelector, _ c: ContainerContext?) -> String? {
        guard sel.hasContainerConditions else { return nil }
        guard let c else { return "container conditions never match operations outside containers" }
        func list(_ field: String, _ values: [String]?, _ have: String?, _ eq: (String, String) -> Bool) -> String? {
            guard let values else { return nil }
            guard let have else { return "\(field): unknown for this container" }
            return values.contains(where: { eq($0, have) }) ? nil
                : "\(field): \(have) is not one of [\(values.joined(separator: ", "))]"
        }
        let exact: (String, String) -> Bool = { $0.utf8.elementsEqual($1.utf8) }
        let short = c.imageName ?? c.imageFullName.map(ImageReference.shortName)
        let full = c.imageFullName.map(ImageReference.normalizedFullName)
        let k = c.kubernetes
        return list("containerImageName", sel.containerImageName, short, exact)
            ?? list("containerImageFullName", sel.containerImageFullName, full) {
                ImageReference.normalizedFullName($0) == $1
            }
            ?? list("containerImageTag", sel.containerImageTag, c.imageTag, exact)
            ?? list("kubernetesClusterId", sel.kubernetesClusterId, k?.clusterID, exact)
            ?? list("kubernetesClusterName", sel.kubernetesClusterName, k?.clusterName, exact)
            ?? list("kubernetesNamespace", sel.kubernetesNamespace, k?.namespace, exact)
            ?? list("kubernetesPodName", sel.kubernetesPodName, k?.podName) { pattern, pod in
                pattern.hasSuffix("*") ? pod.utf8.starts(with: pattern.utf8.dropLast()) : exact(pattern, pod)
            }
            ?? podLabelFailure(sel.kubernetesPodLabel, k?.podLabels)
    }

    private func podLabelFailure(_ patterns: [PodLabelPattern]?, _ labels: [String: String]?) -> String? {
        guard let patterns else { return nil }
        guard let labels else { return "kubernetesPodLabel: the pod labels are unknown" }
        for p in patterns {
            guard let v = labels[p.key] else { continue }
            if p.isPrefix ? v.utf8.starts(with: p.value.utf8) : v.utf8.elementsEqual(p.value.utf8) { return nil }
        }
        return "kubernetesPodLabel: no label matches [\(patterns.map(\.text).joined(separator: ", "))]"
    }

    /// Path matching by components: exact, direct child of `base`, or any descendant of `base`.
    static func pathMatches(_ pattern: PathPattern, _ path: String) -> Bool {
        let p = Array(path.utf8), base = Array(pattern.base.utf8)
        switch pattern.kind {
        case .exact:
            return p == base
        case .children, .descendants:
            // path = base + "/" + rest, rest non-empty; children: rest has no further '/'.
            guard p.count > base.count + 1, Array(p[0..<base.count]) == base,
                  p[base.count] == UInt8(ascii: "/") else { return false }
            let rest = p[(base.count + 1)...]
            return pattern.kind == .descendants || !rest.contains(UInt8(ascii: "/"))
        }
    }

    private static func describeMiss(_ patterns: [PathPattern]) -> String {
        if patterns.count == 1 {
            let p = patterns[0]
            switch p.kind {
            case .exact: return "is not \(p.base)"
            case .children: return "is not a direct child of \(p.base.isEmpty ? "/" : p.base) (\(p.text))"
            case .descendants: return "is not under \(p.text)"
            }
        }
        return "matches none of [\(patterns.map(\.text).joined(separator: ", "))]"
    }
}
