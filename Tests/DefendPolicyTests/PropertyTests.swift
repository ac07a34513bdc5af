import DefendEvents
import Foundation
import Testing
@testable import DefendPolicy

/// A fresh seed per run, or the one in DEFEND_TEST_SEED to replay a reported failure.
func testSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["DEFEND_TEST_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

/// SplitMix64: small, fast, reproducible from a printed seed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random policies and operations over small vocabularies, so that selectors match often.
struct PolicyGenerator {
    var rng: SeededRandom

    static let dirs = ["", "/a", "/a/b", "/usr/bin", "/etc", "/a/b/c", "/é"]
    static let paths: [String?] = ["/", "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/usr/bin/sh", "/usr/bin", "/etc/passwd",
                                   "/ab", "/a/bc", "/é/x", "/etc/ssl/certs/ca.pem", nil]
    static let names: [String?] = ["sh", "bash", "ls", "kube-controller", "kube-controller-manager", nil]
    static let containers: [ContainerContext?] = [
        nil,
        ContainerContext(id: "1"),
        ContainerContext(id: "2", imageName: "nginx", imageFullName: "docker.io/library/nginx", imageTag: "latest"),
        ContainerContext(id: "3", imageName: "busybox", imageFullName: "docker.io/busybox", imageTag: "1.0",
                         kubernetes: KubernetesContext(clusterID: "c1", clusterName: "prod", namespace: "default",
                                                       podName: "web-1", podLabels: ["app": "web", "tier": ""])),
        ContainerContext(id: "4", imageName: "nginx", imageFullName: "quay.io/org/nginx", imageTag: "1.0",
                         kubernetes: KubernetesContext(namespace: "kube", podName: "db", podLabels: ["app": "db"])),
    ]

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
    mutating func some<T>(_ xs: [T], max: Int = 3) -> [T] {
        (0..<Int.random(in: 1...max, using: &rng)).map { _ in pick(xs) }
    }

    mutating func pattern() -> PathPattern {
        let kind = pick([PathPattern.Kind.exact, .children, .descendants])
        var base = pick(Self.dirs)
        if kind == .exact && base.isEmpty { base = "/a" }
        return PathPattern(kind: kind, base: base)
    }

    mutating func selector(_ section: PolicySection, _ i: Int) -> PolicySelector {
        var s = PolicySelector(section: section, name: "s\(i)")
        repeat {
            if chance(0.5) { s.operations = some(section.operations) }
            if chance(0.2) { s.containerImageName = some(["nginx", "busybox"], max: 2) }
            if chance(0.1) { s.containerImageFullName = some(["docker.io/nginx", "docker.io/library/busybox", "quay.io/org/nginx"], max: 2) }
            if chance(0.1) { s.containerImageTag = some(["latest", "1.0"], max: 2) }
            if chance(0.1) { s.kubernetesNamespace = some(["default", "kube"], max: 2) }
            if chance(0.05) { s.kubernetesClusterId = ["c1"] }
            if chance(0.05) { s.kubernetesClusterName = some(["prod", "dev"], max: 2) }
            if chance(0.1) { s.kubernetesPodName = some(["web-*", "db", "web"], max: 2) }
            if chance(0.1) {
                s.kubernetesPodLabel = some([PodLabelPattern(key: "app", value: "web", isPrefix: false),
                                             PodLabelPattern(key: "app", value: "d", isPrefix: true),
                                             PodLabelPattern(key: "tier", value: "", isPrefix: false),
                                             PodLabelPattern(key: "tier", value: "", isPrefix: true)], max: 2)
            }
            switch section {
            case .file:
                if chance(0.6) { s.targetFilePath = (0..<Int.random(in: 1...3, using: &rng)).map { _ in pattern() } }
                if chance(0.15) { s.ignoreVolumeMounts = chance(0.7) } else if chance(0.15) { s.ignoreVolumeFiles = chance(0.7) }
            case .process:
                if chance(0.4) { s.processExecutable = (0..<Int.random(in: 1...3, using: &rng)).map { _ in pattern() } }
                if chance(0.3) { s.processName = some(["sh", "bash", "kube-controller"], max: 2) }
                if chance(0.3) { s.sessionLeaderInteractive = chance(0.5) }
            }
        } while s == PolicySelector(section: section, name: "s\(i)")
        return s
    }

    mutating func policy() -> Policy {
        var p = Policy()
        for section in PolicySection.allCases where chance(0.8) || (section == .process && p.file == nil) {
            let n = chance(0.1) ? Int.random(in: 40...60, using: &rng) : Int.random(in: 1...8, using: &rng)
            let selectors = (0..<n).map { selector(section, $0) }
            let responses = (0..<Int.random(in: 1...min(4, 64 - n), using: &rng)).map { _ in
                PolicyResponse(section: section, match: some(selectors.map(\.name), max: 3),
                               exclude: chance(0.4) ? some(selectors.map(\.name), max: 2) : [],
                               actions: ActionSet(rawValue: UInt32.random(in: 1...7, using: &rng)))
            }
            p[section] = PolicySectionRules(selectors: selectors, responses: responses)
        }
        return p
    }

    /// Deep paths below the vocabulary's directories, some longer than the kernel resolves.
    mutating func deepPath() -> String {
        let base = pick(Self.dirs)
        let depth = pick([62, 64, 300, 2047, 2100])
        return base + String(repeating: "/d", count: depth) + "/x"
    }

    mutating func event() -> PolicyEvent {
        let op = pick(PolicyOperation.allCases)
        var e = PolicyEvent(operation: op, path: pick(Self.paths), processName: pick(Self.names),
                            interactive: pick([true, false, nil]),
                            volume: pick([VolumeState.none, .volumeMount, .fileMount]), container: pick(Self.containers))
        if chance(0.1) { e.path = deepPath() }
        if chance(0.05) {  // the resolved tail of a path the kernel could not resolve
            e.path = pick(["a/b/c", "usr/bin/sh", "etc/passwd", "x", ""])
            e.pathState = .unresolved
        } else if chance(0.05), let p = e.path {  // the first part of a longer path
            e.pathState = .truncated
            if p == "/" { e.path = "/a" }
        }
        return e
    }
}

@Test func compiledEvaluatorAgreesWithReferenceOnRandomPolicies() {
    let seed = testSeed()
    var gen = PolicyGenerator(rng: SeededRandom(seed: seed))
    var fired = 0
    var failures = 0
    for _ in 0..<2000 where failures < 5 {
        let p = gen.policy()
        let scope = gen.pick(PolicyScope.allCases)
        let compiled = CompiledPolicy(p, scope: scope)
        let reference = ReferenceEvaluator(p, scope: scope)
        for _ in 0..<50 {
            let e = gen.event()
            let v = compiled.evaluate(e)
            let r = reference.evaluate(e)
            let names = compiled.selectorNames(section: e.section, mask: v.selectors)
            let matchedNames = compiled.selectorNames(section: e.section, mask: v.matched)
            let referenceMatched = r.outcomes.filter { $0.failure == nil }.map(\.name)
            if !v.actions.isEmpty { fired += 1 }
            if v.actions != r.actions || names != r.matchedSelectors
                || (!v.actions.isEmpty && !referenceMatched.isEmpty && !Set(names).isSubset(of: referenceMatched))
                || (v.matched != 0 && matchedNames != referenceMatched) {
                failures += 1
                Issue.record("seed \(seed): compiled \(v.actions.names) \(names) vs reference \(r.actions.names) \(r.matchedSelectors) for \(e) with \(p) scope \(scope)")
            }
        }
    }
    // The generator must exercise matching, not only misses.
    #expect(fired > 10_000, "seed \(seed): only \(fired) operations fired a response")
}

/// PathState: a path the kernel cannot resolve is never matched as absolute; a block that could
/// apply refuses with an alert, an exclusion by a path condition cannot save it; deep and long paths
/// (even longer than PATH_MAX, reported truncated) are judged exactly, in both directions.
@Test func unresolvedPathsFailClosedAndLongPathsAreExact() throws {
    let policy = try PolicyLoader.parse(yaml: """
        file:
          selectors:
            - name: bin
              operation: [createExecutable, modifyExecutable]
              targetFilePath: [/usr/local/bin/**]
            - name: allowed
              targetFilePath: [/usr/local/bin/allowed]
            - name: tmp
              operation: [createFile]
              targetFilePath: [/tmp/**]
            - name: etcChild
              operation: [createFile]
              targetFilePath: [/etc/*]
          responses:
            - match: [bin]
              exclude: [allowed]
              actions: [alert, block]
            - match: [tmp]
              actions: [log]
            - match: [etcChild]
              actions: [alert]
        """).policy
    let compiled = CompiledPolicy(policy, scope: .all)
    let reference = ReferenceEvaluator(policy, scope: .all)
    func both(_ e: PolicyEvent) -> ActionSet {
        let a = compiled.evaluate(e).actions, b = reference.evaluate(e).actions
        #expect(a == b, "\(e)")
        return a
    }
    let deep = String(repeating: "/d", count: 100)
    let huge = String(repeating: "/d", count: 2100)  // > PATH_MAX
    // deep, long: judged on the whole path, in both directions
    #expect(both(PolicyEvent(operation: .createExecutable, path: "/usr/local/bin" + deep + "/x")) == [.alert, .block])
    #expect(both(PolicyEvent(operation: .createExecutable, path: "/usr/local/bin" + huge + "/x")) == [.alert, .block])
    #expect(both(PolicyEvent(operation: .createExecutable, path: "/tmp/x/usr/local/bin" + deep + "/x")) == [])
    #expect(both(PolicyEvent(operation: .createExecutable, path: "/tmp/x/usr/local/bin" + huge + "/x")) == [])
    // the first part of a longer path, as the kernel reports it: an ancestor only
    #expect(both(PolicyEvent(operation: .createExecutable, path: "/usr/local/bin", pathState: .truncated)) == [.alert, .block])
    #expect(both(PolicyEvent(operation: .createExecutable, path: "/usr/local", pathState: .truncated)) == [])
    #expect(both(PolicyEvent(operation: .createFile, path: "/etc", pathState: .truncated)) == [])  // not a child
    #expect(both(PolicyEvent(operation: .createFile, path: "/etc/x", pathState: .truncated)) == [])
    #expect(both(PolicyEvent(operation: .createFile, path: "/etc/x")) == [.alert])
    // unresolved: may be under /usr/local/bin -> refused and alerted, exclusion or not
    #expect(both(PolicyEvent(operation: .createExecutable, path: "usr/local/bin/x", pathState: .unresolved)) == [.block, .alert])
    #expect(both(PolicyEvent(operation: .createExecutable, path: "usr/local/bin/allowed", pathState: .unresolved)) == [.block, .alert])
    // no block could apply: reported (what may apply), not refused
    #expect(both(PolicyEvent(operation: .createFile, path: "t/x", pathState: .unresolved)) == [.log, .alert])
    // operations no selector takes are untouched
    #expect(both(PolicyEvent(operation: .deleteFile, path: "t/x", pathState: .unresolved)) == [])
}
