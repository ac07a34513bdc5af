import DefendEvents
@testable import DefendKernel
import Glibc

/// Helpers for host tests that run real processes under the real sensor.
enum Host {
    static var isRoot: Bool { geteuid() == 0 }

    /// The cgroup v2 hierarchy (unified mount on hybrid systems).
    static var cgroup2Root: String? {
        // cgroup.controllers exists only at the root of a v2 hierarchy
        ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].first { access($0 + "/cgroup.controllers", F_OK) == 0 }
    }

    /// A fresh cgroup v2 directory; returns its path and cgroup id (the directory's inode).
    static func makeCgroup(_ tag: String) -> (path: String, id: UInt64)? {
        guard let root = cgroup2Root else { return nil }
        let path = "\(root)/defend-test-\(getpid())-\(tag)"
        rmdir(path)
        guard mkdir(path, 0o755) == 0 else { return nil }
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (path, UInt64(st.st_ino))
    }

    static func removeCgroup(_ path: String) {
        for _ in 0..<50 {
            if rmdir(path) == 0 || errno == ENOENT { return }
            usleep(20_000)
        }
    }

    /// posix_spawn of /bin/sh -c `script` in a new session (no controlling tty); returns the
    /// pid and the raw wait status.
    static func runShell(_ script: String) -> (pid: Int32, status: Int32) {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, 0x80 /* POSIX_SPAWN_SETSID (glibc) */)
        let argv = ["sh", "-c", script]
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", nil, &attr, &cargs, environ)
        guard rc == 0 else { return (-1, -1) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (pid, status)
    }

    /// Polls `sensor` until `done` says so or `seconds` pass; returns every event seen.
    static func collect(_ sensor: Sensor, seconds: Double = 5, until done: ([KernelEvent]) -> Bool) -> [KernelEvent] {
        var events: [KernelEvent] = []
        let deadline = now() + seconds
        while now() < deadline {
            _ = try? sensor.poll(timeoutMs: 50) { events.append($0) }
            if done(events) { break }
        }
        return events
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

extension KernelEvent {
    var exec: ExecRecord? { if case let .exec(r) = record { return r } else { return nil } }
    var fork: ForkRecord? { if case let .fork(r) = record { return r } else { return nil } }
    var exit: ExitRecord? { if case let .exit(r) = record { return r } else { return nil } }
    var setsid: SetsidRecord? { if case let .setsid(r) = record { return r } else { return nil } }
    var cgroup: CgroupRecord? { if case let .cgroup(r) = record { return r } else { return nil } }
}
