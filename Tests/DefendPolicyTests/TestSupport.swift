import DefendEvents
@testable import DefendPolicy

/// Parses a policy that must be valid.
func policy(_ yaml: String, file: String = "test.yaml") throws -> Policy {
    try PolicyLoader.parse(yaml: yaml, fileName: file).policy
}

/// The diagnostics of a policy that must be invalid (empty when it unexpectedly loaded).
func diagnostics(_ yaml: String, file: String = "test.yaml") -> [PolicyDiagnostic] {
    do {
        _ = try PolicyLoader.parse(yaml: yaml, fileName: file)
        return []
    } catch {
        return error.diagnostics
    }
}

func errors(_ yaml: String) -> [PolicyDiagnostic] { diagnostics(yaml).filter { $0.severity == .error } }

let nginx = ContainerContext(id: "c1", imageName: "nginx", imageFullName: "docker.io/library/nginx", imageTag: "latest")
let busybox = ContainerContext(id: "c2", imageName: "busybox", imageFullName: "docker.io/library/busybox", imageTag: "1.36")

func fileOp(_ op: PolicyOperation, _ path: String?, container: ContainerContext? = nginx,
            volume: VolumeState = .none) -> PolicyEvent {
    PolicyEvent(operation: op, path: path, volume: volume, container: container)
}

func procOp(_ op: PolicyOperation, exe: String? = "/bin/sh", name: String? = "sh", interactive: Bool? = false,
            container: ContainerContext? = nginx) -> PolicyEvent {
    PolicyEvent(operation: op, path: exe, processName: name, interactive: interactive, container: container)
}

/// Evaluates with both evaluators, requires them to agree, and returns (sorted action names, selectors).
func decide(_ p: Policy, _ e: PolicyEvent, scope: PolicyScope = .containers,
            sourceLocation: SourceLocation = #_sourceLocation) -> (actions: [String], selectors: [String]) {
    let compiled = CompiledPolicy(p, scope: scope)
    let v = compiled.evaluate(e)
    let r = ReferenceEvaluator(p, scope: scope).evaluate(e)
    let names = compiled.selectorNames(section: e.section, mask: v.selectors)
    #expect(v.actions == r.actions, "compiled and reference actions differ for \(e)", sourceLocation: sourceLocation)
    #expect(names == r.matchedSelectors, "compiled and reference selectors differ for \(e)", sourceLocation: sourceLocation)
    return (v.actions.names, names)
}

import Testing
typealias SourceLocation = Testing.SourceLocation
