import Dispatch
import DefendPolicy
import Synchronization

/// Reads, validates and compiles the policy file on a worker thread, so a slow or hostile file
/// never stalls the event loop. The loop asks with `request(reason:)` and, between ring-buffer
/// polls, installs whatever `takeFinished()` hands back (only the loop touches the kernel maps).
/// Requests made while a load runs are coalesced into one more load after it.
final class PolicyReloader: Sendable {
    /// One finished load: a compiled policy (with its warnings) or why the file was refused.
    struct Finished: Sendable {
        var reason: String
        var outcome: Result<(policy: CompiledPolicy, warnings: [PolicyDiagnostic]), PolicyError>
    }

    typealias Load = @Sendable (String) throws(PolicyError) -> LoadedPolicy

    private struct State {
        var running = false
        var pendingReason: String?
        var finished: [Finished] = []
        var load: Load = { path throws(PolicyError) in try PolicyLoader.load(path: path) }
    }

    let path: String
    let scope: PolicyScope
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "defend.policy-reload")

    init(path: String, scope: PolicyScope) {
        self.path = path
        self.scope = scope
    }

    /// Replaces the file reader (tests use it to hold a load in progress).
    func setLoad(_ load: @escaping Load) { state.withLock { $0.load = load } }

    /// Starts a load unless one is running; then one more load follows it.
    func request(reason: String) {
        let start = state.withLock { s -> Bool in
            if s.running {
                s.pendingReason = s.pendingReason.map { $0 + ", " + reason } ?? reason
                return false
            }
            s.running = true
            return true
        }
        if start { queue.async { self.work(reason: reason) } }
    }

    /// The loads finished since the last call, oldest first.
    func takeFinished() -> [Finished] {
        state.withLock { s in
            defer { s.finished = [] }
            return s.finished
        }
    }

    /// True while a load runs or waits.
    var busy: Bool { state.withLock { $0.running } }

    private func work(reason: String) {
        var reason = reason
        while true {
            let load = state.withLock { $0.load }
            let outcome: Result<(policy: CompiledPolicy, warnings: [PolicyDiagnostic]), PolicyError>
            do {
                let loaded = try load(path)
                outcome = .success((CompiledPolicy(loaded.policy, scope: scope), loaded.warnings))
            } catch {
                outcome = .failure(error)
            }
            let next = state.withLock { s -> String? in
                s.finished.append(Finished(reason: reason, outcome: outcome))
                guard let next = s.pendingReason else {
                    s.running = false
                    return nil
                }
                s.pendingReason = nil
                return next
            }
            guard let next else { return }
            reason = next
        }
    }
}
