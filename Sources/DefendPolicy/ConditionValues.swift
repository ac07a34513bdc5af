import DefendEvents

/// Per-value validation of selector conditions (patterns and byte limits of policy-semantics.md),
/// written as small byte scanners rather than regular expressions.
enum ConditionValues {
    static let maxTargetPathBytes = 255
    static let maxExecutableBytes = 511
    static let maxProcessNameBytes = 15
    static let maxValueBytes = 511

    /// nil when `value` is acceptable for `condition`, else a message for a person.
    static func problem(_ condition: Condition, _ value: String, section: PolicySection) -> String? {
        let bytes = value.utf8.count
        if value.isEmpty { return "`\(condition.rawValue)` values must not be empty" }
        switch condition {
        case .operation:
            guard let op = PolicyOperation(policyName: value) else {
                return "unknown operation '\(value)' (\(section.key) operations: \(section.operations.map(\.policyName).joined(separator: ", ")))"
            }
            if op.section != section {
                return "'\(value)' is a \(op.section.key) operation; \(section.key) operations are \(section.operations.map(\.policyName).joined(separator: ", "))"
            }
            return nil
        case .targetFilePath, .processExecutable:
            let limit = condition == .targetFilePath ? maxTargetPathBytes : maxExecutableBytes
            if bytes > limit { return "path is \(bytes) bytes long; at most \(limit) bytes are allowed" }
            return pathProblem(value)
        case .processName:
            if bytes > maxProcessNameBytes {
                return "process name '\(value)' is \(bytes) bytes long; the kernel task name (comm) has at most \(maxProcessNameBytes) bytes"
            }
            return nil
        case .containerImageName:
            if bytes > maxValueBytes { return tooLong(bytes) }
            return isImageComponent(Substring(value)) ? nil
                : "'\(value)' is not an image name (lowercase letters and digits separated by '.', '_' or '-', e.g. nginx)"
        case .containerImageFullName:
            if bytes > maxValueBytes { return tooLong(bytes) }
            return fullImageNameProblem(value)
        case .kubernetesPodName:
            if bytes > maxValueBytes { return tooLong(bytes) }
            if let star = value.firstIndex(of: "*"), star != value.index(before: value.endIndex) {
                return "'\(value)': a wildcard is only allowed at the end (prefix match, e.g. nginx-*)"
            }
            return nil
        case .kubernetesPodLabel:
            if bytes > maxValueBytes { return tooLong(bytes) }
            return podLabelProblem(value)
        case .containerImageTag, .kubernetesClusterId, .kubernetesClusterName, .kubernetesNamespace:
            return bytes > maxValueBytes ? tooLong(bytes) : nil
        case .ignoreVolumeMounts, .ignoreVolumeFiles, .sessionLeaderInteractive:
            return nil
        }
    }

    static func tooLong(_ bytes: Int) -> String { "value is \(bytes) bytes long; at most \(maxValueBytes) bytes are allowed" }

    /// `^(?:/[^/*]+)*(?:/\*|/\*\*)?$`, non-empty.
    static func pathProblem(_ value: String) -> String? {
        let b = Array(value.utf8)
        guard b.first == UInt8(ascii: "/") else { return "'\(value)' is not an absolute path (it must start with '/')" }
        var components: [ArraySlice<UInt8>] = []
        var start = 1
        for i in 1...b.count where i == b.count || b[i] == UInt8(ascii: "/") {
            components.append(b[start..<i])
            start = i + 1
        }
        for (i, c) in components.enumerated() {
            let last = i == components.count - 1
            if c.isEmpty {
                return last ? "'\(value)' ends with '/'; write the directory without it, or /* (children) or /** (all descendants)"
                            : "'\(value)' contains an empty component ('//')"
            }
            if c.contains(UInt8(ascii: "*")) {
                let isWildcard = c.elementsEqual("*".utf8) || c.elementsEqual("**".utf8)
                if !isWildcard || !last {
                    return "'\(value)': a wildcard must be a whole last component: /dir/* (direct children) or /dir/** (all descendants)"
                }
            }
        }
        return nil
    }

    /// `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`
    static func isImageComponent(_ s: Substring) -> Bool {
        var afterSeparator = true // a separator may not come first, twice in a row, or last
        for c in s.utf8 {
            let lowerAlnum = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            if lowerAlnum {
                afterSeparator = false
            } else if (c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")) && !afterSeparator {
                afterSeparator = true
            } else {
                return false
            }
        }
        return !afterSeparator
    }

    /// `registry[:port]/path` without tag or digest; the registry is required.
    static func fullImageNameProblem(_ value: String) -> String? {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, let registry = parts.first, ImageReference.looksLikeRegistry(registry) else {
            return "'\(value)' must start with a registry, e.g. docker.io/nginx or registry.example.com:5000/team/app"
        }
        if value.contains("@") { return "'\(value)': leave out the digest; match the repository (registry/path)" }
        for p in parts.dropFirst() {
            if p.contains(":") { return "'\(value)': leave out the tag; use containerImageTag to match tags" }
            if !isImageComponent(p) {
                return "'\(value)': '\(p)' is not a valid repository path component (lowercase letters, digits, '.', '_', '-')"
            }
        }
        return nil
    }

    /// `key:value`: key `[prefix/]name`, value exact or ending in `*`, possibly empty.
    static func podLabelProblem(_ value: String) -> String? {
        guard let colon = value.firstIndex(of: ":") else {
            return "'\(value)' is not a label; write key:value (value may end in '*', or be empty)"
        }
        let key = value[..<colon]
        let labelValue = value[value.index(after: colon)...]
        let keyParts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, keyParts.count <= 2, keyParts.allSatisfy({ !$0.isEmpty }) else {
            return "'\(value)': the label key must be name or prefix/name"
        }
        if keyParts.count == 2,
           !keyParts[0].utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) {
            return "'\(value)': the label key prefix must be a DNS name (letters, digits, '.', '-')"
        }
        let name = keyParts[keyParts.count - 1]
        if !name.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) {
            return "'\(value)': the label key may contain only letters, digits, '.', '-' and '_'"
        }
        var v = labelValue
        if v.hasSuffix("*") { v = v.dropLast() }
        if !v.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) {
            return "'\(value)': the label value may contain only letters, digits, '.', '-', '_' and a trailing '*'"
        }
        return nil
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    /// `^[a-z0-9][a-z0-9_-]*$`, case-insensitive (anything else is accepted with a warning).
    static func isConventionalSelectorName(_ name: String) -> Bool {
        guard let first = name.utf8.first, isAlnum(first) else { return false }
        return name.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }
}
