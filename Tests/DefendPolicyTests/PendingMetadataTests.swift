import DefendEvents
import Testing
@testable import DefendPolicy

/// "Metadata not yet known": a block whose exclude depends on pod labels does not block a pod whose
/// labels are still expected; once known, the labels decide.
@Suite struct PendingMetadataTests {
    let policy = CompiledPolicy(try! DefendPolicyTests.policy("""
        file:
          selectors:
            - name: etc
              targetFilePath: [/etc/**]
            - name: trusted
              kubernetesPodLabel: ["app:web"]
            - name: prod
              kubernetesNamespace: [prod]
              targetFilePath: [/etc/**]
          responses:
            - match: [etc]
              exclude: [trusted]
              actions: [alert, block]
            - match: [prod]
              actions: [alert, block]
        """))

    func verdict(_ c: ContainerContext) -> PolicyVerdict {
        policy.evaluate(PolicyEvent(operation: .modifyFile, path: "/etc/shadow", container: c))
    }

    @Test func pendingLabelsDoNotBlockButKnownOnesDecide() {
        var c = ContainerContext(id: "c1", kubernetes: KubernetesContext(podUID: "u1"), metadataPending: true)
        #expect(!verdict(c).actions.contains(.block), "labels not known yet: the exclude is assumed")
        c.metadataPending = false
        #expect(verdict(c).actions.contains(.block), "known, without the label: blocked")
        c.kubernetes?.podLabels = ["app": "web"]
        #expect(!verdict(c).actions.contains(.block), "known, labelled: excluded")
        // A selector only used in a match is not assumed: a pending namespace does not make it match.
        let masks = policy.containerMasks(for: ContainerContext(id: "c2", kubernetes: KubernetesContext(), metadataPending: true))
        #expect(masks.file & 0b100 == 0)
        #expect(masks.file & 0b010 != 0)
        // The kernel's undescribed-container mask agrees.
        #expect(policy.tables.unknownContainerMask[PolicySection.file.rawValue] == 0b011)
    }
}
