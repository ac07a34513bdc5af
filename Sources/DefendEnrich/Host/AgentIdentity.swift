import DefendEvents
import Foundation

/// Errors reading or creating the persisted agent id, naming the file.
public enum AgentIdentityError: Error, CustomStringConvertible, Equatable {
    case cannotCreateDirectory(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let p, let r): return "cannot create state directory \(p): \(r)"
        case .cannotWrite(let p, let r): return "cannot write agent id file \(p): \(r)"
        }
    }
}

/// `agent.id`: a UUID created on first run and kept in `<stateDirectory>/agent-id`.
public enum AgentIdentity {
    public static let fileName = "agent-id"

    /// The persisted id, or a new one. A file that is not a readable UUID (corrupt, truncated, not a
    /// regular file) does not stop the agent, which would leave the node unprotected: it is kept
    /// aside as `agent-id.corrupt-<unix time>` for inspection, a new id is made, and `warn` says so.
    public static func loadOrCreate(stateDirectory: String,
                                    warn: (String) -> Void = { _ in }) throws(AgentIdentityError) -> String {
        let path = stateDirectory + "/" + fileName
        let fm = FileManager.default
        var st = stat()
        if lstat(path, &st) == 0 {
            let content = try? RegularFile.read(path: path, maxBytes: 4096)
            let text = content.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
            if let text, let uuid = UUID(uuidString: text) { return uuid.uuidString.lowercased() }
            let aside = path + ".corrupt-\(time(nil))"
            if rename(path, aside) != 0 {
                throw .cannotWrite(path: aside, reason: "cannot move the invalid agent id file aside: "
                                   + String(cString: strerror(errno)))
            }
            warn("\(path) did not hold a valid agent id (not a UUID); kept it as \(aside) and made a new id "
                 + "(documents from this node now carry the new agent.id)")
        }
        do {
            try fm.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
        } catch {
            // the POSIX reason ("Permission denied"), not Foundation's error dump
            let ns = error as NSError
            let posix = (ns.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? $0.code : nil }
            throw .cannotCreateDirectory(path: stateDirectory,
                                         reason: posix.map { String(cString: strerror(Int32($0))) } ?? ns.localizedDescription)
        }
        let id = UUID().uuidString.lowercased()
        // write-then-rename so a crash never leaves a half-written id
        let tmp = path + ".tmp"
        guard fm.createFile(atPath: tmp, contents: Data((id + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw .cannotWrite(path: tmp, reason: "create failed")
        }
        if rename(tmp, path) != 0 { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        return id
    }
}
