import DefendEvents

/// How one kernel record is named in ECS: category, action, type and the alert titles.
struct EventDescription {
    var isProcess: Bool
    var action: StaticString
    var type: StaticString
    var alertTitle: StaticString
    var blockedTitle: StaticString
    /// Distinct per (action, type, titles): indexes the prebuilt `event` block (`EventTemplates`).
    var code: Int = 0
    static let codeCount = 3 + 6 * 5

    /// nil for records that never become documents (setsid, cgroup).
    static func describe(_ event: KernelEvent) -> EventDescription? {
        switch event.record {
        case .fork:
            return EventDescription(isProcess: true, action: "fork", type: "start",
                                    alertTitle: "Container process fork detected",
                                    blockedTitle: "Container process fork blocked", code: 0)
        case .exec:
            return EventDescription(isProcess: true, action: "exec", type: "start",
                                    alertTitle: "Container process execution detected",
                                    blockedTitle: "Container process execution blocked", code: 1)
        case .exit:
            return EventDescription(isProcess: true, action: "end", type: "end",
                                    alertTitle: "Container process end detected",
                                    blockedTitle: "Container process end detected", code: 2)
        case .file:
            return fileDescription(hook: event.hook, operation: event.decision.operation)
        case .setsid, .cgroup:
            return nil
        }
    }

    /// `event.action` follows the hook (what the task did), `event.type` the policy operation:
    /// unlink -> deletion; rename -> rename; link -> link; mknod -> creation; chmod/truncate ->
    /// modification; open -> creation when it created the file, otherwise `open` (a write-intent open).
    static func fileDescription(hook: HookPoint, operation: PolicyOperation?) -> EventDescription {
        var d = fileDescriptionWithoutCode(hook: hook, operation: operation)
        // index of the action among creation, modification, deletion, rename, link, open
        let first = d.action.utf8Start.pointee, second = d.action.utf8Start[1]
        let actionIndex: Int
        switch (first, second) {
        case (UInt8(ascii: "c"), _): actionIndex = 0
        case (UInt8(ascii: "m"), _): actionIndex = 1
        case (UInt8(ascii: "d"), _): actionIndex = 2
        case (UInt8(ascii: "r"), _): actionIndex = 3
        case (UInt8(ascii: "l"), _): actionIndex = 4
        default: actionIndex = 5
        }
        let op = operation ?? .modifyFile
        let opIndex = op.rawValue <= PolicyOperation.deleteFile.rawValue ? Int(op.rawValue) : Int(PolicyOperation.modifyFile.rawValue)
        d.code = 3 + actionIndex * 5 + opIndex
        return d
    }

    private static func fileDescriptionWithoutCode(hook: HookPoint, operation: PolicyOperation?) -> EventDescription {
        let op = operation ?? .modifyFile
        let action: StaticString
        switch hook {
        case .path_unlink: action = "deletion"
        case .path_rename: action = "rename"
        case .path_link: action = "link"
        case .path_mknod: action = "creation"
        case .path_chmod, .path_truncate, .inode_setxattr, .inode_set_acl: action = "modification"
        case .file_open: action = (op == .createFile || op == .createExecutable) ? "creation" : "open"
        default:
            switch op {
            case .createFile, .createExecutable: action = "creation"
            case .deleteFile: action = "deletion"
            default: action = "modification"
            }
        }
        switch op {
        case .createExecutable:
            return EventDescription(isProcess: false, action: action, type: "creation",
                                    alertTitle: "Executable created in container",
                                    blockedTitle: "Executable creation in container blocked")
        case .modifyExecutable:
            return EventDescription(isProcess: false, action: action, type: "change",
                                    alertTitle: "Executable modified in container",
                                    blockedTitle: "Executable modification in container blocked")
        case .createFile:
            return EventDescription(isProcess: false, action: action, type: "creation",
                                    alertTitle: "File created in container",
                                    blockedTitle: "File creation in container blocked")
        case .deleteFile:
            return EventDescription(isProcess: false, action: action, type: "deletion",
                                    alertTitle: "File deleted in container",
                                    blockedTitle: "File deletion in container blocked")
        case .modifyFile, .fork, .exec:
            return EventDescription(isProcess: false, action: action, type: "change",
                                    alertTitle: "File modified in container",
                                    blockedTitle: "File modification in container blocked")
        }
    }
}
