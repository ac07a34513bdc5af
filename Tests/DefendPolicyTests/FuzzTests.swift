import DefendEvents
import Testing
@testable import DefendPolicy

/// Mutated policies must produce a policy or diagnostics, never a crash or a hang.
@Test func mutatedYAMLNeverCrashes() {
    let seeds = [DefaultPolicy.yaml, ValidationRules.validFile, """
        process:
          selectors:
            - name: allProcesses
              operation: [fork, exec]
            - name: shells
              processName: [sh, bash]
              processExecutable: [/bin/*, /usr/bin/**]
              sessionLeaderInteractive: true
              kubernetesPodLabel: ["app:web*", "tier:"]
          responses:
            - match: [allProcesses]
              exclude: [shells]
              actions: [log]
        file:
          selectors:
            - name: etc
              operation: [createFile, modifyFile]
              targetFilePath: [/etc/**]
              containerImageFullName: [docker.io/nginx]
              ignoreVolumeFiles: true
          responses:
            - match: [etc]
              actions: [alert, block]
        """]
    let seed = testSeed()
    var rng = SeededRandom(seed: seed)
    let specials = Array(":-[]{}*&!|>'\"#%@`,?\n\t /\\\u{0}é".utf8)
    var accepted = 0, rejected = 0
    for i in 0..<3000 {
        var b = Array(seeds[i % seeds.count].utf8)
        for _ in 0..<Int.random(in: 1...(i % 2 == 0 ? 1 : 4), using: &rng) {
            guard !b.isEmpty else { break }
            let at = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: b[at] = specials.randomElement(using: &rng) ?? 0
            case 1: b[at] = UInt8.random(in: 0...255, using: &rng)
            case 2: b.removeSubrange(at...)
            case 3:
                let end = min(b.count, at + Int.random(in: 1...80, using: &rng))
                b.insert(contentsOf: b[at..<end], at: Int.random(in: 0...b.count, using: &rng))
            case 4:
                let depth = Int.random(in: 1...40, using: &rng)
                b.insert(contentsOf: Array(repeating: UInt8(ascii: "["), count: depth), at: at)
            default:
                b.insert(contentsOf: Array(pickIndent(&rng).utf8), at: at)
            }
        }
        do {
            let loaded = try PolicyLoader.parse(bytes: b, fileName: "fuzz.yaml")
            accepted += 1
            // Whatever loads must also compile and evaluate identically in both evaluators.
            let compiled = CompiledPolicy(loaded.policy, scope: .all)
            let reference = ReferenceEvaluator(loaded.policy, scope: .all)
            for op in PolicyOperation.allCases {
                let e = PolicyEvent(operation: op, path: "/etc/passwd", processName: "sh", interactive: true, container: nginx)
                #expect(compiled.evaluate(e).actions == reference.evaluate(e).actions, "seed \(seed) input \(i)")
            }
        } catch {
            rejected += 1
            #expect(!error.errors.isEmpty, "seed \(seed) input \(i): rejected without an error")
        }
    }
    print("fuzz: accepted \(accepted), rejected \(rejected)")
    #expect(accepted > 40 && rejected > 1000, "seed \(seed): accepted \(accepted), rejected \(rejected)")
}

private func pickIndent(_ rng: inout SeededRandom) -> String {
    ["\n  - ", "\n      ", "  ", "\n- - - ", "&x ", "*x ", "? ", "!!binary ", "{a: [", "---\n"].randomElement(using: &rng) ?? ""
}
