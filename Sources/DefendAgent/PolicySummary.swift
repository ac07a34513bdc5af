import DefendEvents
import DefendPolicy

extension Policy {
    /// True when some response blocks (needs BPF-LSM to be enforced).
    var hasBlockActions: Bool {
        PolicySection.allCases.contains { self[$0]?.responses.contains { $0.actions.contains(.block) } ?? false }
    }

    /// "process: 1 selectors/1 responses; file: 1 selectors/1 responses" for the start-up log.
    var summary: String {
        PolicySection.allCases.compactMap { section in
            self[section].map { "\(section.key): \($0.selectors.count) selectors/\($0.responses.count) responses" }
        }.joined(separator: "; ")
    }
}
