import DefendEvents
import Yams

/// Rules that relate selectors and responses of a parsed policy (names, limits, block safety).
enum PolicyRules {
    /// Selectors + responses per section: the kernel carries matched selectors in one u64.
    static let maxRulesPerSection = 64

    static func check(_ policy: inout Policy, parser: inout PolicyParser, sectionNodes: [PolicySection: Node],
                      prefix: String) {
        func base(_ section: PolicySection) -> String { prefix.isEmpty ? section.key : prefix + "." + section.key }
        for section in PolicySection.allCases {
            guard let rules = policy[section] else { continue }
            // Duplicate names.
            var first: [String: Int] = [:]
            for (i, s) in rules.selectors.enumerated() where !s.name.isEmpty {
                if let j = first[s.name] {
                    parser.error(at: s.location, "\(base(section)).selectors[\(i)].name",
                                 "duplicate selector name '\(s.name)' (also selector \(j) of this section); responses could not tell them apart")
                } else {
                    first[s.name] = i
                }
            }
            let used = Set(rules.responses.flatMap { $0.match + $0.exclude })
            for (i, s) in rules.selectors.enumerated() where !s.name.isEmpty && !used.contains(s.name) {
                parser.warning(at: s.location, "\(base(section)).selectors[\(i)]",
                               "selector '\(s.name)' is not named by any response, so it has no effect")
            }
            let other = policy[section == .file ? .process : .file]
            for (ri, r) in rules.responses.enumerated() {
                let rPath = "\(base(section)).responses[\(ri)]"
                for (field, names, locations) in [("match", r.match, r.matchLocations), ("exclude", r.exclude, r.excludeLocations)] {
                    for (ni, name) in names.enumerated() where first[name] == nil {
                        let loc = ni < locations.count ? locations[ni] : r.location
                        let path = "\(rPath).\(field)[\(ni)]"
                        if other?.selectorIndex(named: name) != nil {
                            let otherKey = section == .file ? "process" : "file"
                            parser.error(at: loc, path, "'\(name)' is a \(otherKey) selector; a \(section.key) response can only name \(section.key) selectors")
                        } else {
                            parser.error(at: loc, path, "no \(section.key) selector is named '\(name)'")
                        }
                    }
                }
                for (ni, name) in r.exclude.enumerated() where r.match.contains(name) && first[name] != nil {
                    let loc = ni < r.excludeLocations.count ? r.excludeLocations[ni] : r.location
                    parser.warning(at: loc, "\(rPath).exclude[\(ni)]",
                                   "'\(name)' is both matched and excluded: whenever it matches, this response does not fire")
                }
                if section == .file && r.actions.contains(.block) {
                    checkBlock(r, rules: rules, path: rPath, parser: &parser)
                }
            }
        }
        checkKernelCapacity(policy, parser: &parser, prefix: prefix)
        if policy.file == nil && policy.process == nil, parser.diagnostics.allSatisfy({ $0.severity != .error }) {
            parser.error(at: .unknown, prefix, "the policy has no usable section")
        }
    }

    /// A blocking response must not block plain-file operations everywhere: each `match` selector
    /// that covers createFile/modifyFile/deleteFile (or has no `operation`) needs a `targetFilePath`,
    /// unless an `exclude` selector has one. Blocking them under `/**` is only a warning.
    static func checkBlock(_ r: PolicyResponse, rules: PolicySectionRules, path: String, parser: inout PolicyParser) {
        let excludeHasPath = r.exclude.contains { name in
            rules.selectorIndex(named: name).map { rules.selectors[$0].targetFilePath != nil } ?? false
        }
        for (ni, name) in r.match.enumerated() {
            guard let si = rules.selectorIndex(named: name),
                  parser.invalidSelectors[.file]?.contains(name) != true else { continue }
            let sel = rules.selectors[si]
            let coversPlain = sel.operations.map { $0.contains(where: \.isPlainFileOperation) } ?? true
            guard coversPlain else { continue }
            let loc = ni < r.matchLocations.count ? r.matchLocations[ni] : r.location
            if sel.targetFilePath == nil && !excludeHasPath {
                parser.error(at: loc, "\(path).match[\(ni)]",
                             "this response blocks plain-file operations (createFile, modifyFile, deleteFile) of selector '\(name)' on every path; give the selector a `targetFilePath` or exclude a selector that has one")
            } else if let paths = sel.targetFilePath, paths.contains(PathPattern(kind: .descendants, base: "")) {
                parser.warning(at: loc, "\(path).match[\(ni)]",
                               "blocking plain-file operations of selector '\(name)' under `/**` can make the node unusable")
            }
        }
    }
}
