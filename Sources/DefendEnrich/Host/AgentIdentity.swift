import Foundation

/// Errors reading or creating the persisted agent id, naming the file.
public enum AgentIdentityError: Error, CustomStringConvertible, Equatable {
    case cannotCreateDirectory(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case invalidContent(path: String)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let p, let r): return "cannot create state directory \(p): \(r)"
        case .cannotWrite(let p, let r): return "cannot write agent id file \(p): \(r)"
        case .invalidContent(let p): return "\(p): not a UUID (delete the file to get a new agent id)"
        }
    }
}

/// `agent.id`: a UUID created on first run and kept in `<stateDirectory>/agent-id`.
public enum AgentIdentity {
    public static let fileName = "agent-id"

    public static func loadOrCreate(stateDirectory: String) throws(AgentIdentityError) -> String {
        let path = stateDirectory + "/" + fileName
        let fm = FileManager.default
        if let data = fm.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let uuid = UUID(uuidString: text) else { throw .invalidContent(path: path) }
            return uuid.uuidString.lowercased()
        }
        do {
            try fm.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
        } catch {
            throw .cannotCreateDirectory(path: stateDirectory, reason: "\(error)")
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
