import CLibBPF
import DefendEvents

/// Decodes one ring-buffer record (`bpf/defend_abi.h` layout) into a `KernelEvent`, reading
/// strings straight out of the record. Short or inconsistent records are rejected (the caller
/// counts them), never trusted: every length is checked against the record size.
public enum RecordDecoder {
    public enum Failure: Error, Sendable, Equatable {
        case short(type: UInt32, size: Int)
        case unknownType(UInt32)
        case badLength(field: String)
    }

    static let headerSize = MemoryLayout<defend_event_header>.size

    public static func decode(_ raw: UnsafeRawBufferPointer) throws(Failure) -> KernelEvent {
        guard raw.count >= headerSize else { throw .short(type: 0, size: raw.count) }
        let h = raw.loadUnaligned(as: defend_event_header.self)
        let hook = HookPoint(rawValue: h.hook) ?? .none
        let decision = Decision(
            operation: h.op < UInt32(DEFEND_OP_COUNT.rawValue) ? PolicyOperation(rawValue: UInt8(h.op)) : nil,
            actions: ActionSet(rawValue: h.actions), selectors: h.selectors,
            denied: h.flags & UInt32(DEFEND_F_DENIED) != 0, generation: h.generation)
        let record: KernelRecord
        switch h.type {
        case UInt32(DEFEND_EV_FORK.rawValue):
            try need(raw, MemoryLayout<defend_fork_event>.size, h.type)
            record = .fork(ForkRecord(child: task(raw, at: MemoryLayout<defend_fork_event>.offset(of: \.task)!)))
        case UInt32(DEFEND_EV_EXEC.rawValue):
            record = .exec(try exec(raw, flags: h.flags))
        case UInt32(DEFEND_EV_EXIT.rawValue):
            try need(raw, MemoryLayout<defend_exit_event>.size, h.type)
            let t = task(raw, at: MemoryLayout<defend_exit_event>.offset(of: \.task)!)
            let code = raw.loadUnaligned(fromByteOffset: MemoryLayout<defend_exit_event>.offset(of: \.exit_code)!,
                                         as: Int32.self)
            record = .exit(ExitRecord(task: t, exitStatus: code))
        case UInt32(DEFEND_EV_SETSID.rawValue):
            try need(raw, MemoryLayout<defend_setsid_event>.size, h.type)
            record = .setsid(SetsidRecord(task: task(raw, at: MemoryLayout<defend_setsid_event>.offset(of: \.task)!)))
        case UInt32(DEFEND_EV_FILE.rawValue):
            record = .file(try file(raw, flags: h.flags))
        case UInt32(DEFEND_EV_CGROUP_MKDIR.rawValue), UInt32(DEFEND_EV_CGROUP_RMDIR.rawValue):
            typealias E = defend_cgroup_event
            try need(raw, MemoryLayout<E>.size, h.type)
            let id = raw.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: \.cgroup_id)!, as: UInt64.self)
            let level = raw.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: \.level)!, as: UInt32.self)
            let len = raw.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: \.path_len)!, as: UInt32.self)
            let path = try string(raw, at: MemoryLayout<E>.offset(of: \.path)!, length: len,
                                  capacity: Int(DEFEND_PATH_MAX), field: "cgroup.path")
            record = .cgroup(CgroupRecord(cgroupID: id, level: level, path: path,
                                          created: h.type == UInt32(DEFEND_EV_CGROUP_MKDIR.rawValue)))
        default:
            throw .unknownType(h.type)
        }
        return KernelEvent(record: record, hook: hook, decision: decision, bootTimeNs: h.ktime_ns)
    }

    private static func need(_ raw: UnsafeRawBufferPointer, _ size: Int, _ type: UInt32) throws(Failure) {
        if raw.count < size { throw .short(type: type, size: raw.count) }
    }

    /// Bytes [offset, offset+length) as text; `length` must fit the field's capacity.
    static func string(_ raw: UnsafeRawBufferPointer, at offset: Int, length: UInt32, capacity: Int,
                       field: String) throws(Failure) -> String {
        let n = Int(length)
        guard n < capacity, offset + n <= raw.count else { throw .badLength(field: field) }
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)]), as: UTF8.self)
    }

    /// A NUL-terminated fixed field (comm).
    static func cString(_ raw: UnsafeRawBufferPointer, at offset: Int, capacity: Int) -> String {
        let end = min(offset + capacity, raw.count)
        var stop = offset
        while stop < end && raw[stop] != 0 { stop += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<stop]), as: UTF8.self)
    }

    static func task(_ raw: UnsafeRawBufferPointer, at offset: Int) -> TaskInfo {
        let t = raw.loadUnaligned(fromByteOffset: offset, as: defend_task.self)
        let commOffset = offset + MemoryLayout<defend_task>.offset(of: \.comm)!
        return TaskInfo(
            pid: Int32(bitPattern: t.pid), tid: Int32(bitPattern: t.tid), ppid: Int32(bitPattern: t.ppid),
            pgid: Int32(bitPattern: t.pgid), sid: Int32(bitPattern: t.sid),
            uid: t.uid, euid: t.euid, gid: t.gid, egid: t.egid,
            ttyMajor: t.tty_major, ttyMinor: t.tty_minor,
            startBootNs: t.start_ns, parentStartBootNs: t.parent_start_ns,
            capEffective: t.cap_effective, capPermitted: t.cap_permitted,
            cgroupID: t.cgroup_id, pidNamespaceInode: t.pid_ns_ino, namespacePid: Int32(bitPattern: t.ns_pid),
            comm: cString(raw, at: commOffset, capacity: Int(DEFEND_COMM_LEN)))
    }

    private static func exec(_ raw: UnsafeRawBufferPointer, flags: UInt32) throws(Failure) -> ExecRecord {
        typealias E = defend_exec_event
        // sent with its used bytes only: filename, cwd and args packed from `data` (defend_abi.h)
        let data = MemoryLayout<E>.offset(of: \.argc)! + 4  // `data` (too large a C array for Swift to import)
        try need(raw, data, UInt32(DEFEND_EV_EXEC.rawValue))
        func u32(_ key: KeyPath<E, UInt32>) -> UInt32 {
            raw.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: key)!, as: UInt32.self)
        }
        let filenameLen = u32(\.filename_len), cwdLen = u32(\.cwd_len)
        let filename = try string(raw, at: data, length: filenameLen, capacity: Int(DEFEND_PATH_MAX),
                                  field: "exec.filename")
        let cwdOffset = data + Int(filenameLen) + 1
        let cwd = try string(raw, at: cwdOffset, length: cwdLen, capacity: Int(DEFEND_PATH_MAX), field: "exec.cwd")
        let argsLen = Int(u32(\.args_len))
        let argsOffset = cwdOffset + Int(cwdLen) + 1
        guard argsLen <= Int(DEFEND_ARGS_MAX), argsLen == 0 || argsOffset + argsLen <= raw.count else {
            throw .badLength(field: "exec.args")
        }
        let args = argsLen == 0 ? [] : splitArgs(UnsafeRawBufferPointer(rebasing: raw[argsOffset..<(argsOffset + argsLen)]))
        return ExecRecord(
            task: task(raw, at: MemoryLayout<E>.offset(of: \.task)!), filename: filename, cwd: cwd, args: args,
            argc: Int(u32(\.argc)),
            filenameTruncated: flags & UInt32(DEFEND_F_PATH_TRUNCATED) != 0,
            cwdTruncated: flags & UInt32(DEFEND_F_CWD_TRUNCATED) != 0,
            argsTruncated: flags & UInt32(DEFEND_F_ARGS_TRUNCATED) != 0,
            filenameUnresolved: flags & UInt32(DEFEND_F_PATH_UNRESOLVED) != 0,
            cwdUnresolved: flags & UInt32(DEFEND_F_CWD_UNRESOLVED) != 0,
            filenameDeleted: flags & UInt32(DEFEND_F_EXE_DELETED) != 0,
            cwdDeleted: flags & UInt32(DEFEND_F_CWD_DELETED) != 0)
    }

    /// NUL-separated argv; a trailing fragment without NUL (truncated) is kept.
    static func splitArgs(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var out: [String] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0 {
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
            start = i + 1
        }
        if start < bytes.count {
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), as: UTF8.self))
        }
        return out
    }

    private static func file(_ raw: UnsafeRawBufferPointer, flags: UInt32) throws(Failure) -> FileRecord {
        typealias E = defend_file_event
        let data = MemoryLayout<E>.offset(of: \.ino)! + 8  // `data`
        try need(raw, data, UInt32(DEFEND_EV_FILE.rawValue))
        func u32(_ key: KeyPath<E, UInt32>) -> UInt32 {
            raw.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: key)!, as: UInt32.self)
        }
        let pathLen = u32(\.path_len)
        let path = try string(raw, at: data, length: pathLen, capacity: Int(DEFEND_PATH_MAX), field: "file.path")
        let oldLen = u32(\.old_path_len)
        let oldPath = oldLen == 0 ? nil : try string(raw, at: data + Int(pathLen) + 1,
                                                     length: oldLen, capacity: Int(DEFEND_PATH_MAX),
                                                     field: "file.old_path")
        return FileRecord(
            task: task(raw, at: MemoryLayout<E>.offset(of: \.task)!), path: path, oldPath: oldPath,
            mode: u32(\.mode),
            inode: raw.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: \.ino)!, as: UInt64.self),
            pathTruncated: flags & UInt32(DEFEND_F_PATH_TRUNCATED) != 0,
            inVolumeMount: flags & UInt32(DEFEND_F_IN_VOLUME_MOUNT) != 0,
            isFileMount: flags & UInt32(DEFEND_F_FILE_MOUNT) != 0,
            wasExecutable: flags & UInt32(DEFEND_F_WAS_EXECUTABLE) != 0,
            pathUnresolved: flags & UInt32(DEFEND_F_PATH_UNRESOLVED) != 0,
            oldPathTruncated: flags & UInt32(DEFEND_F_OLD_PATH_TRUNCATED) != 0,
            oldPathUnresolved: flags & UInt32(DEFEND_F_OLD_PATH_UNRESOLVED) != 0)
    }
}
