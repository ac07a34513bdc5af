#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Turns SIGINT/SIGTERM (stop) and SIGHUP (reload the policy) into flags the event loop polls
/// between ring-buffer polls, so signal handlers never touch agent state.
public enum SignalWatcher {
    static let stop = Atomic<Bool>(false)
    static let reload = Atomic<Bool>(false)

    /// Installs the handlers (idempotent) and unblocks the three signals, in case the supervisor
    /// started the agent with them blocked. `defend run` calls this before anything else.
    public static func install() {
        signal(SIGINT) { _ in SignalWatcher.stop.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in SignalWatcher.stop.store(true, ordering: .relaxed) }
        signal(SIGHUP) { _ in SignalWatcher.reload.store(true, ordering: .relaxed) }
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    public static var stopRequested: Bool { stop.load(ordering: .relaxed) }

    /// True once per SIGHUP.
    public static func takeReloadRequest() -> Bool {
        reload.exchange(false, ordering: .relaxed)
    }

    public static func requestStop() { stop.store(true, ordering: .relaxed) }

    /// Clears both flags (for running several agents in one process, as tests do).
    public static func reset() {
        stop.store(false, ordering: .relaxed)
        reload.store(false, ordering: .relaxed)
    }
}
