import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private containerd (Debian's containerd + runc) for host tests: root, state and socket under a
/// temporary directory, the CRI plugin disabled, run as a child process. `shutDown()` removes every
/// container, stops containerd and its shims, unmounts what is left under the directory, removes the
/// cgroups it created and the directory itself. Every wait is bounded.
final class ContainerdHarness {
    enum Failure: Error, CustomStringConvertible {
        case missingTool(String)
        case startFailed(String)
        case command([String], status: Int32, output: String)
        case timedOut([String], seconds: Double)

        var description: String {
            switch self {
            case .missingTool(let t): return "\(t) not installed (scripts/setup.sh installs containerd and runc)"
            case .startFailed(let s): return "containerd did not start: \(s)"
            case .command(let a, let status, let output): return "`\(a.joined(separator: " "))` exited \(status): \(output)"
            case .timedOut(let a, let s): return "`\(a.joined(separator: " "))` still running after \(s) s (killed)"
            }
        }
    }

    static let tools = ["containerd": "/usr/bin/containerd", "ctr": "/usr/bin/ctr", "runc": "/usr/sbin/runc",
                        "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2", "busybox": "/bin/busybox"]

    /// nil when every tool is installed; otherwise the reason to skip.
    static var unavailableReason: String? {
        if getuid() != 0 { return "needs root (containerd, runc, BPF)" }
        for (name, path) in tools.sorted(by: { $0.key < $1.key }) where !FileManager.default.isExecutableFile(atPath: path) {
            return "\(name) missing at \(path)"
        }
        return nil
    }

    let directory: String
    let namespace: String
    var socket: String { directory + "/containerd.sock" }
    var stateDirectory: String { directory + "/state" }
    private var daemon: Process?
    private var containers: [String] = []
    /// cgroup directories (relative to a hierarchy root) that did not exist before and are removed at the end.
    private var createdCgroupParents: [String] = []
    private let cgroupHierarchies: [String]
    /// Directories containerd, its shims and runc create at fixed places whatever the config says
    /// (runc's root /run/containerd/runc/<namespace>, ctr's fifos, the shims' sockets), deepest first;
    /// those that did not exist before are removed at the end if empty.
    private let fixedDirectories: [String]
    private var fixedDirectoriesToRemove: [String] = []

    init(namespace: String = "defend-test") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("defend-ctr-\(UUID().uuidString.prefix(8))").path
        self.namespace = namespace
        cgroupHierarchies = Self.cgroupHierarchies()
        fixedDirectories = ["/run/containerd/runc/\(namespace)", "/run/containerd/runc", "/run/containerd/fifo",
                            "/run/containerd/s", "/run/containerd"]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Starts containerd and waits (at most `timeout` s) for its socket.
    func start(timeout: Double = 15) throws {
        fixedDirectoriesToRemove = fixedDirectories.filter { !FileManager.default.fileExists(atPath: $0) }
        let config = """
            version = 2
            root = "\(directory)/root"
            state = "\(stateDirectory)"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [ttrpc]
              address = "\(socket).ttrpc"
            """
        try config.write(toFile: directory + "/config.toml", atomically: true, encoding: .utf8)
        let log = directory + "/containerd.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.tools["containerd"] ?? "/usr/bin/containerd")
        p.arguments = ["--config", directory + "/config.toml"]
        // containerd finds the shim, and the shim runc, through PATH (which may lack sbin under a test runner).
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        p.environment = environment
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardError = p.standardOutput
        try p.run()
        daemon = p
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, p.isRunning {
            if (try? ctr(["version"], timeout: 5)) != nil { return }
            usleep(50_000)
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw Failure.startFailed(p.isRunning ? "no answer on \(socket) within \(timeout) s" : "exited: \(text.suffix(2000))")
    }

    /// Runs `ctr -a <socket> -n <namespace> args...`; returns its combined output.
    @discardableResult
    func ctr(_ args: [String], timeout: Double = 30) throws -> String {
        try Self.run(Self.tools["ctr"] ?? "/usr/bin/ctr", ["-a", socket, "-n", namespace] + args,
                     outputFile: directory + "/ctr.out", timeout: timeout)
    }

    /// Imports a docker-archive image built from busybox-static (`/bin/busybox` + applet links) as `reference`.
    func importBusyboxImage(reference: String, hostname: String) throws {
        let build = directory + "/image"
        let rootfs = build + "/rootfs", archive = build + "/archive"
        let fm = FileManager.default
        for d in ["/bin", "/etc", "/tmp"] { try fm.createDirectory(atPath: rootfs + d, withIntermediateDirectories: true) }
        try fm.createDirectory(atPath: archive, withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.tools["busybox"] ?? "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "cat", "ls", "sleep", "echo", "true"] {
            try fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try (hostname + "\n").write(toFile: rootfs + "/etc/hostname", atomically: true, encoding: .utf8)
        try Self.run("/bin/tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", rootfs, "-cf", archive + "/layer.tar", "."],
                     outputFile: build + "/tar.out", timeout: 30)
        let layerDigest = try Self.sha256(archive + "/layer.tar")
        let config = #"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"#
            + #""rootfs":{"type":"layers","diff_ids":["sha256:\#(layerDigest)"]}}"#
        try config.write(toFile: archive + "/config.json", atomically: true, encoding: .utf8)
        let configDigest = try Self.sha256(archive + "/config.json")
        try fm.moveItem(atPath: archive + "/config.json", toPath: archive + "/\(configDigest).json")
        let manifest = #"[{"Config":"\#(configDigest).json","RepoTags":["\#(reference)"],"Layers":["layer.tar"]}]"#
        try manifest.write(toFile: archive + "/manifest.json", atomically: true, encoding: .utf8)
        try Self.run("/bin/tar", ["-C", archive, "-cf", build + "/image.tar", "."], outputFile: build + "/tar.out", timeout: 30)
        try ctr(["images", "import", build + "/image.tar"], timeout: 60)
    }

    /// `ctr run` a container. `detach`: returns once it runs; otherwise waits for it to exit (and removes it).
    /// `cgroup` is the cgroup path (nil: containerd's default `/<namespace>/<id>`).
    @discardableResult
    func runContainer(image: String, id: String, cgroup: String? = nil, annotations: [String: String] = [:],
                      detach: Bool, command: [String], timeout: Double = 60) throws -> String {
        noteCgroupParents(cgroup ?? "/\(namespace)/\(id)")
        containers.append(id)
        var args = ["run"]
        if detach { args.append("-d") } else { args.append("--rm") }
        if let cgroup { args += ["--cgroup", cgroup] }
        for (k, v) in annotations.sorted(by: { $0.key < $1.key }) { args += ["--annotation", "\(k)=\(v)"] }
        args += [image, id] + command
        return try ctr(args, timeout: timeout)
    }

    /// The pid (host namespace) of a running container's init process.
    func initPID(of id: String) throws -> Int32? {
        let text = try String(contentsOfFile: "\(stateDirectory)/io.containerd.runtime.v2.task/\(namespace)/\(id)/init.pid",
                              encoding: .utf8)
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Stops and removes everything this harness created. Safe to call more than once.
    func shutDown() {
        for id in containers.reversed() {
            _ = try? ctr(["task", "kill", "-s", "SIGKILL", id], timeout: 10)
            _ = try? ctr(["task", "delete", "-f", id], timeout: 15)
            _ = try? ctr(["containers", "delete", id], timeout: 10)
        }
        containers.removeAll()
        if let d = daemon, d.isRunning {
            kill(d.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while d.isRunning, Date() < deadline { usleep(20_000) }
            if d.isRunning { kill(d.processIdentifier, SIGKILL); d.waitUntilExit() }
        }
        daemon = nil
        // Shims outlive containerd; find ours by the socket they were given and stop them by pid.
        for pid in Self.processes(withCommandLineContaining: socket) where pid != getpid() {
            kill(pid, SIGKILL)
        }
        for mount in Self.mounts(under: directory).sorted(by: { $0.count > $1.count }) {
            umount2(mount, Int32(MNT_DETACH))
        }
        for rel in createdCgroupParents.sorted(by: { $0.count > $1.count }) {
            for h in cgroupHierarchies { rmdir(h + rel) }
        }
        createdCgroupParents.removeAll()
        for d in fixedDirectoriesToRemove { rmdir(d) }
        fixedDirectoriesToRemove.removeAll()
        // DEFEND_KEEP_TEST_DIR=1 keeps the logs and documents for a post-mortem (processes and mounts are gone).
        if ProcessInfo.processInfo.environment["DEFEND_KEEP_TEST_DIR"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    deinit { shutDown() }

    // MARK: helpers

    /// Remembers every cgroup directory on the way to `path` that does not exist yet (runc removes the
    /// container's own cgroup but not the parents it created).
    private func noteCgroupParents(_ path: String) {
        var rel = ""
        for part in path.split(separator: "/") {
            rel += "/" + part
            let existing = cgroupHierarchies.contains { FileManager.default.fileExists(atPath: $0 + rel) }
            if !existing, !createdCgroupParents.contains(rel) { createdCgroupParents.append(rel) }
        }
    }

    /// Mount points of every cgroup hierarchy (v1 controllers and the v2 one).
    static func cgroupHierarchies() -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") ? String(f[1]) : nil
        }
    }

    static func mounts(under dir: String) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count > 4 else { return nil }
            let point = String(f[4]).replacingOccurrences(of: "\\040", with: " ")
            return point.hasPrefix(dir + "/") ? point : nil
        }
    }

    static func processes(withCommandLineContaining needle: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { name -> Int32? in
            guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
            let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return cmdline.contains(needle) ? pid : nil
        }
    }

    static func sha256(_ path: String) throws -> String {
        let out = try run("/usr/bin/sha256sum", [path], outputFile: path + ".sha256", timeout: 30)
        try? FileManager.default.removeItem(atPath: path + ".sha256")
        return String(out.prefix(64))
    }

    /// Runs a program with its output in `outputFile`; throws on a non-zero exit or after `timeout` s (killed).
    @discardableResult
    static func run(_ executable: String, _ args: [String], outputFile: String, timeout: Double) throws -> String {
        _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputFile))
        defer { try? handle.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning, Date() < deadline { usleep(10_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            throw Failure.timedOut([executable] + args, seconds: timeout)
        }
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0 else { throw Failure.command([executable] + args, status: p.terminationStatus, output: output) }
        return output
    }
}
