#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// What `defend status` receives: the latest snapshot and the agent's own health verdicts.
public struct StatusReport: Sendable, Codable, Hashable {
    /// nil while the agent is starting (no snapshot published yet).
    public var snapshot: AgentSnapshot?
    /// The agent's CLOCK_BOOTTIME when it answered (ages in the snapshot are relative to it).
    public var nowBootNs: UInt64
    public var healthy: Bool
    public var healthReason: String
    public var ready: Bool
    public var readyReason: String

    public init(snapshot: AgentSnapshot?, nowBootNs: UInt64, health: HealthCheck) {
        self.snapshot = snapshot
        self.nowBootNs = nowBootNs
        let h = health.health(snapshot, nowBootNs: nowBootNs)
        let r = health.readiness(snapshot, nowBootNs: nowBootNs)
        healthy = h.ok
        healthReason = h.reason
        ready = r.ok
        readyReason = r.reason
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(self))) ?? Array("{}".utf8)
    }
}

public let defaultStatusSocketPath = "/run/defend/defend.sock"

/// The root-only Unix socket `defend status` asks. Each connection gets one JSON `StatusReport` and is
/// closed; nothing is read from the client. The socket is mode 0600 in a directory that must belong to
/// the agent's user and not be writable by others, and a peer whose uid is neither 0 nor the agent's is
/// refused (SO_PEERCRED), so another user cannot read the agent's state or replace the socket.
public final class StatusServer: @unchecked Sendable {
    public let path: String
    private let listenFD: Int32
    private let wakeFDs: (read: Int32, write: Int32)
    private let snapshots: SnapshotBox
    private let health: HealthCheck
    private let inode: UInt64
    private let finished = Mutex(false)
    private let done = DispatchSemaphore(value: 0)
    /// Connections refused because the peer was another user.
    public let refused = Atomic<UInt64>(0)

    public init(path: String, snapshots: SnapshotBox, health: HealthCheck = HealthCheck()) throws(TelemetryError) {
        self.path = path
        self.snapshots = snapshots
        self.health = health
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw .statusSocket(path, "the path is longer than a Unix socket path can be (107 bytes)")
        }
        try Self.prepareDirectory(of: path)
        try Self.removeStale(path)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .statusSocket(path, "socket: \(errnoText())") }
        var addr = Self.address(path)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let why = errnoText()
            Glibc.close(fd)
            throw .statusSocket(path, "bind: \(why)")
        }
        var st = stat()
        guard chmod(path, 0o600) == 0, lstat(path, &st) == 0, listen(fd, 16) == 0 else {
            let why = errnoText()
            Glibc.close(fd)
            unlink(path)
            throw .statusSocket(path, why)
        }
        inode = UInt64(st.st_ino)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            let why = errnoText()
            Glibc.close(fd)
            unlink(path)
            throw .statusSocket(path, "pipe: \(why)")
        }
        for p in pipeFDs { _ = fcntl(p, F_SETFD, FD_CLOEXEC) }
        listenFD = fd
        wakeFDs = (pipeFDs[0], pipeFDs[1])
        let thread = Thread { [self] in serve() }
        thread.name = "defend-status"
        thread.start()
    }

    /// Stops answering, closes and removes the socket (if it is still ours). Idempotent.
    public func stop() {
        let first = finished.withLock { stopped -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        var one: UInt8 = 1
        _ = write(wakeFDs.write, &one, 1)
        done.wait()
        Glibc.close(listenFD)
        Glibc.close(wakeFDs.read)
        Glibc.close(wakeFDs.write)
        var st = stat()
        if lstat(path, &st) == 0, UInt64(st.st_ino) == inode { unlink(path) }
    }

    private func serve() {
        defer { done.signal() }
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFDs.read, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let n = poll(&fds, 2, -1)
            if n < 0 { if errno == EINTR { continue } else { return } }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let client = accept(listenFD, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            answer(client)
            Glibc.close(client)
        }
    }

    private func answer(_ client: Int32) {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (not exported without _GNU_SOURCE).
        var cred: (pid: Int32, uid: UInt32, gid: UInt32) = (0, UInt32.max, UInt32.max)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0,
              cred.uid == 0 || cred.uid == geteuid() else {
            refused.add(1, ordering: .relaxed)
            return
        }
        // A client that does not read cannot hold the status thread for more than 2 s.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let body = StatusReport(snapshot: snapshots.read(), nowBootNs: bootTimeNs(), health: health).encoded()
        body.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(client, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }

    static func prepareDirectory(of path: String) throws(TelemetryError) {
        let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let directory = dir.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : dir
        var st = stat()
        if lstat(directory, &st) != 0 {
            guard errno == ENOENT, mkdir(directory, 0o700) == 0 || errno == EEXIST, lstat(directory, &st) == 0 else {
                throw .statusSocket(path, "cannot create \(directory): \(errnoText())")
            }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .statusSocket(path, "\(directory) is not a directory") }
        guard st.st_uid == geteuid() || st.st_uid == 0 else {
            throw .statusSocket(path, "\(directory) belongs to uid \(st.st_uid), not to the agent's user")
        }
        // A directory others may write to (sticky or not) would let them race the socket's creation.
        guard st.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            throw .statusSocket(path, "\(directory) is writable by other users; use a directory only root can write (e.g. /run/defend)")
        }
    }

    /// A socket left by an agent that was killed is removed; one that still answers is another agent's.
    static func removeStale(_ path: String) throws(TelemetryError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else { throw .statusSocket(path, "exists and is not a socket") }
        if StatusClient.answers(path) { throw .statusSocket(path, "another agent is answering on it") }
        unlink(path)
    }

    static func address(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        return addr
    }
}

/// `defend status`'s side: connect, read one report (bounded), decode.
public enum StatusClient {
    public static let maxReportBytes = 8 << 20

    public static func fetch(path: String, timeoutSeconds: Int = 5) throws(TelemetryError) -> StatusReport {
        let fd = try connect(path)
        defer { Glibc.close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .statusSocket(path, "the agent did not answer within \(timeoutSeconds) s") }
                throw .statusSocket(path, "read: \(errnoText())")
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            guard data.count <= maxReportBytes else { throw .statusSocket(path, "the answer is larger than \(maxReportBytes) bytes") }
        }
        guard !data.isEmpty else {
            throw .statusSocket(path, "the agent closed the connection without answering (only root or the agent's user may ask)")
        }
        do {
            return try JSONDecoder().decode(StatusReport.self, from: Data(data))
        } catch {
            throw .statusSocket(path, "the answer is not a status report (another program's socket, or another version?)")
        }
    }

    static func connect(_ path: String) throws(TelemetryError) -> Int32 {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw .statusSocket(path, "the path is longer than a Unix socket path can be (107 bytes)")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .statusSocket(path, "socket: \(errnoText())") }
        var addr = StatusServer.address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            switch code {
            case ENOENT: throw .statusSocket(path, "no agent is running with this status socket (no such file)")
            case ECONNREFUSED: throw .statusSocket(path, "no agent is answering (a stale socket of an agent that stopped?)")
            case EACCES: throw .statusSocket(path, "permission denied: the status socket is root-only")
            default: throw .statusSocket(path, "connect: \(String(cString: strerror(code)))")
            }
        }
        return fd
    }

    /// True when something accepts connections on `path`.
    static func answers(_ path: String) -> Bool {
        guard let fd = try? connect(path) else { return false }
        Glibc.close(fd)
        return true
    }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
