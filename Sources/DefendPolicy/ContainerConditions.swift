import DefendEvents

/// A selector's container and Kubernetes conditions, precompiled into sets (image full names
/// normalised once) for `CompiledPolicy.containerMasks`.
struct ContainerConditions: Sendable {
    var imageNames: Set<String>?
    var imageFullNames: Set<String>?
    var imageTags: Set<String>?
    var clusterIDs: Set<String>?
    var clusterNames: Set<String>?
    var namespaces: Set<String>?
    var podNamesExact: Set<String> = []
    var podNamePrefixes: [String] = []
    var hasPodName = false
    var podLabels: [PodLabelPattern]?

    init(_ sel: PolicySelector) {
        imageNames = sel.containerImageName.map(Set.init)
        imageFullNames = sel.containerImageFullName.map { Set($0.map(ImageReference.normalizedFullName)) }
        imageTags = sel.containerImageTag.map(Set.init)
        clusterIDs = sel.kubernetesClusterId.map(Set.init)
        clusterNames = sel.kubernetesClusterName.map(Set.init)
        namespaces = sel.kubernetesNamespace.map(Set.init)
        if let pods = sel.kubernetesPodName {
            hasPodName = true
            for p in pods {
                if p.hasSuffix("*") { podNamePrefixes.append(String(p.dropLast())) } else { podNamesExact.insert(p) }
            }
        }
        podLabels = sel.kubernetesPodLabel
    }

    var isEmpty: Bool {
        imageNames == nil && imageFullNames == nil && imageTags == nil && clusterIDs == nil
            && clusterNames == nil && namespaces == nil && !hasPodName && podLabels == nil
    }

    /// The container's image, computed once per container.
    struct ImageFacts {
        var shortName: String?
        var fullName: String?
        init(_ c: ContainerContext) {
            fullName = c.imageFullName.map(ImageReference.normalizedFullName)
            shortName = c.imageName ?? c.imageFullName.map(ImageReference.shortName)
        }
    }

    func matches(_ c: ContainerContext, _ image: ImageFacts) -> Bool { evaluate(c, image) == true }

    /// true/false, or nil when the answer depends on metadata the container is still waiting for
    /// (`metadataPending` and the value is missing). A condition that is already false wins.
    func evaluate(_ c: ContainerContext, _ image: ImageFacts) -> Bool? {
        var unknown = false
        func check(_ set: Set<String>?, _ value: String?) -> Bool {
            guard let set else { return true }
            guard let value else {
                if c.metadataPending { unknown = true; return true }
                return false
            }
            return set.contains(value)
        }
        guard check(imageNames, image.shortName), check(imageFullNames, image.fullName),
              check(imageTags, c.imageTag) else { return false }
        let k = c.kubernetes
        guard check(clusterIDs, k?.clusterID), check(clusterNames, k?.clusterName),
              check(namespaces, k?.namespace) else { return false }
        if hasPodName {
            if let pod = k?.podName {
                if !podNamesExact.contains(pod) && !podNamePrefixes.contains(where: { pod.utf8.starts(with: $0.utf8) }) { return false }
            } else if c.metadataPending {
                unknown = true
            } else {
                return false
            }
        }
        if let podLabels {
            let labels = k?.podLabels ?? [:]
            let any = podLabels.contains { l in
                guard let v = labels[l.key] else { return false }
                return l.isPrefix ? v.utf8.starts(with: l.value.utf8) : v == l.value
            }
            if !any {
                // No label yet while the pod is still expected: not known.
                if c.metadataPending && labels.isEmpty { unknown = true } else { return false }
            }
        }
        return unknown ? nil : true
    }
}
