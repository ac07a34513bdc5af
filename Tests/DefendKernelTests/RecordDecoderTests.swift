import CLibBPF
import DefendEvents
@testable import DefendKernel
import DefendPolicy
import Testing

/// Decoding of hand-built records (layout from defend_abi.h), including corrupt ones.
struct RecordDecoderTests {
    typealias E = defend_exec_event

    static func put<T>(_ buf: inout [UInt8], _ value: T, at offset: Int) {
        buf.withUnsafeMutableBytes { $0.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    }

    static func putBytes(_ buf: inout [UInt8], _ bytes: [UInt8], at offset: Int) {
        buf.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }

    static func execRecord(filename: String = "/usr/bin/env", args: [String] = ["env", "A=1", "x"]) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: MemoryLayout<E>.size)
        var h = defend_event_header()
        h.type = UInt32(DEFEND_EV_EXEC.rawValue)
        h.hook = UInt32(DEFEND_HOOK_TP_EXEC.rawValue)
        h.ktime_ns = 42
        h.selectors = 0b101
        h.actions = 3
        h.flags = UInt32(DEFEND_F_ARGS_TRUNCATED)
        h.op = UInt32(DEFEND_OP_EXEC.rawValue)
        h.generation = 1
        put(&b, h, at: 0)
        var t = defend_task()
        t.pid = 100; t.tid = 101; t.ppid = 1; t.tty_major = 136; t.cgroup_id = 77
        put(&b, t, at: MemoryLayout<E>.offset(of: \.task)!)
        let taskCommOffset = MemoryLayout<E>.offset(of: \.task)! + MemoryLayout<defend_task>.offset(of: \.comm)!
        putBytes(&b, Array("env".utf8), at: taskCommOffset)
        let data = MemoryLayout<E>.offset(of: \.argc)! + 4
        put(&b, UInt32(filename.utf8.count), at: MemoryLayout<E>.offset(of: \.filename_len)!)
        putBytes(&b, Array(filename.utf8), at: data)
        put(&b, UInt32(4), at: MemoryLayout<E>.offset(of: \.cwd_len)!)
        putBytes(&b, Array("/tmp".utf8), at: data + filename.utf8.count + 1)
        let argBytes = Array(args.joined(separator: "\0").utf8)  // last one truncated: no NUL
        put(&b, UInt32(argBytes.count), at: MemoryLayout<E>.offset(of: \.args_len)!)
        put(&b, UInt32(5), at: MemoryLayout<E>.offset(of: \.argc)!)
        let argsAt = data + filename.utf8.count + 1 + 5
        putBytes(&b, argBytes, at: argsAt)
        b.removeLast(b.count - (argsAt + argBytes.count))  // sent with its used bytes only
        return b
    }

    @Test func decodesExecRecord() throws {
        let b = Self.execRecord()
        let event = try b.withUnsafeBytes { raw in try RecordDecoder.decode(raw) }
        #expect(event.hook == .sched_process_exec)
        #expect(event.bootTimeNs == 42)
        #expect(event.decision == Decision(operation: .exec, actions: [.log, .alert], selectors: 0b101,
                                           denied: false, generation: 1))
        guard case let .exec(r) = event.record else { Issue.record("not exec"); return }
        #expect(r.filename == "/usr/bin/env")
        #expect(r.cwd == "/tmp")
        #expect(r.args == ["env", "A=1", "x"])
        #expect(r.argc == 5)
        #expect(r.argsTruncated)
        #expect(!r.filenameDeleted && !r.cwdDeleted)
        #expect(!r.filenameTruncated)
        #expect(r.task.pid == 100 && r.task.tid == 101 && r.task.ppid == 1)
        #expect(r.task.comm == "env")
        #expect(r.task.cgroupID == 77)
        #expect(r.task.hasInteractiveTTY)
    }

    @Test func decodesDeletedExecutableAndWorkingDirectory() throws {
        var b = Self.execRecord()
        Self.put(&b, UInt32(DEFEND_F_EXE_DELETED | DEFEND_F_CWD_DELETED), at: MemoryLayout<defend_event_header>.offset(of: \.flags)!)
        let event = try b.withUnsafeBytes { raw in try RecordDecoder.decode(raw) }
        guard case let .exec(r) = event.record else { Issue.record("not exec"); return }
        #expect(r.filenameDeleted && r.cwdDeleted && !r.argsTruncated)
    }

    @Test func rejectsShortAndCorruptRecords() {
        let good = Self.execRecord()
        // shorter than the header, shorter than the exec layout, cut inside its strings
        #expect(throws: RecordDecoder.Failure.self) { try good.prefix(8).withUnsafeBytes { try RecordDecoder.decode($0) } }
        #expect(throws: RecordDecoder.Failure.self) { try good.prefix(MemoryLayout<E>.offset(of: \.argc)!).withUnsafeBytes { try RecordDecoder.decode($0) } }
        #expect(throws: RecordDecoder.Failure.self) { try good.dropLast(3).withUnsafeBytes { try RecordDecoder.decode($0) } }
        #expect(good.count < 400, "an exec record is sent with its used bytes, not \(MemoryLayout<E>.size)")
        // a length past its field
        var bad = good
        Self.put(&bad, UInt32(9999), at: MemoryLayout<E>.offset(of: \.filename_len)!)
        #expect(throws: RecordDecoder.Failure.badLength(field: "exec.filename")) {
            try bad.withUnsafeBytes { try RecordDecoder.decode($0) }
        }
        var badArgs = good
        Self.put(&badArgs, UInt32(DEFEND_ARGS_MAX + 1), at: MemoryLayout<E>.offset(of: \.args_len)!)
        #expect(throws: RecordDecoder.Failure.badLength(field: "exec.args")) {
            try badArgs.withUnsafeBytes { try RecordDecoder.decode($0) }
        }
        // unknown type
        var unknown = good
        Self.put(&unknown, UInt32(99), at: 0)
        #expect(throws: RecordDecoder.Failure.unknownType(99)) { try unknown.withUnsafeBytes { try RecordDecoder.decode($0) } }
    }

    @Test func decodesFileRecordWithFlags() throws {
        typealias F = defend_file_event
        var b = [UInt8](repeating: 0, count: MemoryLayout<F>.size)
        var h = defend_event_header()
        h.type = UInt32(DEFEND_EV_FILE.rawValue)
        h.hook = UInt32(DEFEND_HOOK_LSM_PATH_RENAME.rawValue)
        h.actions = 6
        h.op = UInt32(DEFEND_OP_CREATE_EXECUTABLE.rawValue)
        h.flags = UInt32(DEFEND_F_DENIED | DEFEND_F_IN_VOLUME_MOUNT | DEFEND_F_FILE_MOUNT | DEFEND_F_WAS_EXECUTABLE)
        Self.put(&b, h, at: 0)
        Self.put(&b, UInt32(0o100755), at: MemoryLayout<F>.offset(of: \.mode)!)
        Self.put(&b, UInt64(1234), at: MemoryLayout<F>.offset(of: \.ino)!)
        let data = MemoryLayout<F>.offset(of: \.ino)! + 8
        Self.put(&b, UInt32(6), at: MemoryLayout<F>.offset(of: \.path_len)!)
        Self.putBytes(&b, Array("/a/new".utf8), at: data)
        Self.put(&b, UInt32(6), at: MemoryLayout<F>.offset(of: \.old_path_len)!)
        Self.putBytes(&b, Array("/a/old".utf8), at: data + 7)
        b.removeLast(b.count - (data + 14))  // sent with its used bytes only
        let event = try b.withUnsafeBytes { try RecordDecoder.decode($0) }
        #expect(event.hook == .path_rename)
        #expect(event.decision.denied)
        #expect(event.decision.actions == [.alert, .block])
        #expect(event.decision.operation == .createExecutable)
        guard case let .file(f) = event.record else { Issue.record("not file"); return }
        #expect(f.path == "/a/new" && f.oldPath == "/a/old")
        #expect(f.mode == 0o100755 && f.inode == 1234)
        #expect(f.inVolumeMount && f.isFileMount && f.wasExecutable && !f.pathTruncated)
    }

    @Test func policyImagePlacesEveryTableValue() throws {
        var t = KernelTables()
        t.opMask = [1, 2, 3, 4, 5, 6, 7]
        t.pathAnyMask = [8, 9]
        t.nameAnyMask = 10
        t.interactiveMask = [11, 12]
        t.volumeOkMask = 13
        t.fileMountOkMask = 14
        t.hostMask = [15, 16]
        t.unknownContainerMask = [17, 18]
        t.responses = [[.init(match: 19, exclude: 20, actions: .log)],
                       [.init(match: 21, exclude: 22, actions: [.alert, .block])]]
        t.pathEntries = [.init(section: .file, kind: .descendant, string: "/etc", mask: 1),
                         .init(section: .file, kind: .descendant, string: "/etc", mask: 4),
                         .init(section: .process, kind: .name, string: "sh", mask: 2)]
        let image = try KernelPolicyImage(t, generation: 1)
        let p = image.policy
        // the process block matches selectors 2 and 4, which name executables (not in pathAnyMask 9)
        #expect(p.flags == UInt32(DEFEND_PF_LOADED | DEFEND_PF_PROCESS_TELEMETRY | DEFEND_PF_EXEC_PATH_BLOCK))
        #expect(p.op_mask.0 == 1 && p.op_mask.6 == 7)
        #expect(p.path_any_mask.0 == 8 && p.path_any_mask.1 == 9)
        #expect(p.name_any_mask == 10)
        #expect(p.interactive_mask.0 == 11 && p.interactive_mask.1 == 12)
        #expect(p.volume_ok_mask == 13 && p.file_mount_ok_mask == 14)
        #expect(p.host_mask.0 == 15 && p.host_mask.1 == 16)
        #expect(p.unknown_container_mask.0 == 17 && p.unknown_container_mask.1 == 18)
        #expect(p.response_count.0 == 1 && p.response_count.1 == 1)
        #expect(p.responses.0.0.match == 19 && p.responses.0.0.exclude == 20 && p.responses.0.0.actions == 1)
        #expect(p.responses.1.0.match == 21 && p.responses.1.0.exclude == 22 && p.responses.1.0.actions == 6)
        // same string twice: one key, masks merged
        #expect(image.paths.count == 2)
        let etc = try #require(image.paths.first { $0.key.kind == UInt8(DEFEND_PATH_DESCENDANT.rawValue) })
        #expect(etc.key.hash == FNV1a.hash("/etc".utf8))
        #expect(etc.key.len == 4 && etc.key.generation == 1 && etc.key.section == 0)
        #expect(etc.value.mask == 5)
        #expect(etc.value.str.0 == UInt8(ascii: "/") && etc.value.str.4 == 0)
        // every key's filter bit is set, and nothing else
        let bits = Set(image.paths.map { KernelPolicyImage.filterBit($0.key) })
        for bit in bits { #expect(image.filterHas(bit)) }
        let set = (0..<Int(DEFEND_PATH_FILTER_BITS)).filter { image.filterHas($0) }
        #expect(set.count == bits.count)
    }

    /// DEFEND_PATH_FILTER_BIT: Swift picks the bit the C macro (the BPF programs' formula) picks.
    @Test func pathFilterBitAgreesWithTheCMacro() {
        var rng = SystemRandomNumberGenerator()
        for i in 0..<2000 {
            var key = defend_path_key()
            key.hash = i == 0 ? FNV1a.hash("/etc".utf8) : rng.next()
            key.len = UInt16.random(in: 0..<512, using: &rng)
            key.section = UInt8.random(in: 0...1, using: &rng)
            key.kind = UInt8.random(in: 0...4, using: &rng)
            let c = defend_path_filter_bit(key.hash, UInt32(key.len), UInt32(key.section) << 8 | UInt32(key.kind))
            #expect(KernelPolicyImage.filterBit(key) == Int(c))
            #expect(Int(c) < Int(DEFEND_PATH_FILTER_BITS))
        }
    }

    @Test func policyImageRejectsOversizedEntries() {
        var t = KernelTables()
        t.pathEntries = [.init(section: .process, kind: .name, string: "a-name-longer-than-15", mask: 1)]
        #expect(throws: SensorError.self) { try KernelPolicyImage(t, generation: 0) }
    }
}
