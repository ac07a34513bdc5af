import CLibBPF
import DefendEvents
@testable import DefendKernel
import DefendPolicy
import Testing

/// Every enum of bpf/defend_abi.h agrees with its Swift mirror, value by value, and the record
/// layouts the decoder reads are where the C header puts them.
struct ABIAgreementTests {
    @Test func operationsAgree() {
        let c: [(UInt32, PolicyOperation)] = [
            (DEFEND_OP_CREATE_EXECUTABLE.rawValue, .createExecutable), (DEFEND_OP_MODIFY_EXECUTABLE.rawValue, .modifyExecutable),
            (DEFEND_OP_CREATE_FILE.rawValue, .createFile), (DEFEND_OP_MODIFY_FILE.rawValue, .modifyFile),
            (DEFEND_OP_DELETE_FILE.rawValue, .deleteFile), (DEFEND_OP_FORK.rawValue, .fork), (DEFEND_OP_EXEC.rawValue, .exec),
        ]
        for (value, op) in c { #expect(UInt32(op.rawValue) == value, "\(op)") }
        #expect(PolicyOperation.allCases.count == Int(DEFEND_OP_COUNT.rawValue))
    }

    @Test func actionsAndPathKindsAgree() {
        #expect(ActionSet.log.rawValue == DEFEND_ACTION_LOG.rawValue)
        #expect(ActionSet.alert.rawValue == DEFEND_ACTION_ALERT.rawValue)
        #expect(ActionSet.block.rawValue == DEFEND_ACTION_BLOCK.rawValue)
        let kinds: [(UInt32, KernelTables.PathKind)] = [
            (DEFEND_PATH_EXACT.rawValue, .exact), (DEFEND_PATH_CHILD.rawValue, .child),
            (DEFEND_PATH_DESCENDANT.rawValue, .descendant), (DEFEND_PATH_NAME.rawValue, .name),
            (DEFEND_PATH_ANCESTOR.rawValue, .ancestor),
        ]
        for (value, kind) in kinds { #expect(UInt32(kind.rawValue) == value, "\(kind)") }
        #expect(DEFEND_SECTION_FILE.rawValue == 0 && DEFEND_SECTION_PROCESS.rawValue == 1)
        #expect(LossCounters.EventType.allCases.count == Int(DEFEND_EV_TYPE_COUNT.rawValue) - 1)
    }

    /// Every hook value the kernel can send has a HookPoint, and every HookPoint a distinct name.
    @Test func hooksAgree() {
        var names = Set<String>()
        for v in 0..<DEFEND_HOOK_COUNT.rawValue {
            let hook = HookPoint(rawValue: v)
            #expect(hook != nil, "defend_hook \(v) has no HookPoint")
            if let hook { names.insert(hook.ecsName) }
        }
        #expect(names.count == Int(DEFEND_HOOK_COUNT.rawValue))
        #expect(HookPoint(rawValue: DEFEND_HOOK_COUNT.rawValue) == nil)
        let c: [(UInt32, HookPoint)] = [
            (DEFEND_HOOK_LSM_PATH_CHMOD.rawValue, .path_chmod), (DEFEND_HOOK_LSM_FILE_OPEN.rawValue, .file_open),
            (DEFEND_HOOK_LSM_BPRM_CHECK.rawValue, .bprm_check_security), (DEFEND_HOOK_LSM_INODE_SETXATTR.rawValue, .inode_setxattr),
            (DEFEND_HOOK_LSM_INODE_SET_ACL.rawValue, .inode_set_acl), (DEFEND_HOOK_LSM_MMAP_FILE.rawValue, .mmap_file),
            (DEFEND_HOOK_LSM_PATH_SYMLINK.rawValue, .path_symlink), (DEFEND_HOOK_TP_CGROUP_RMDIR.rawValue, .cgroup_rmdir),
        ]
        for (value, hook) in c { #expect(hook.rawValue == value, "\(hook)") }
    }

    /// The volume kinds of `volume_mounts` and its key (`struct defend_mount_key`) agree with the Swift
    /// mirrors `ContainerState` writes.
    @Test func volumeKindsAndMountKeyAgree() {
        let c: [(UInt32, VolumeKind)] = [(DEFEND_VOLUME_MOUNT.rawValue, .volume), (DEFEND_VOLUME_FILE.rawValue, .file)]
        for (value, kind) in c { #expect(kind.rawValue == value, "\(kind)") }
        #expect(VolumeKind(rawValue: 0) == nil && VolumeKind(rawValue: 3) == nil)
        #expect(MemoryLayout<defend_mount_key>.size == 16)
        #expect(MemoryLayout<defend_mount_key>.offset(of: \.ino) == 0)
        #expect(MemoryLayout<defend_mount_key>.offset(of: \.dev) == 8)
        let k = VolumeMountKey(device: 8 << 20 | 1, inode: 77)
        let key = defend_mount_key(ino: k.inode, dev: k.device, pad: 0)
        #expect(key.ino == 77 && key.dev == 8 << 20 | 1)
        #expect(DEFEND_VOLUME_MOUNTS_MAX == 16384)
        #expect(DEFEND_F_IN_VOLUME_MOUNT == 1 << 6 && DEFEND_F_FILE_MOUNT == 1 << 7)
    }

    /// Record flags are distinct single bits (the decoder tests each one alone).
    @Test func recordFlagsAreDistinctBits() {
        let flags: [Int32] = [DEFEND_F_DENIED, DEFEND_F_PATH_TRUNCATED, DEFEND_F_ARGS_TRUNCATED, DEFEND_F_CWD_TRUNCATED,
                              DEFEND_F_OLD_PATH_TRUNCATED, DEFEND_F_IN_CONTAINER, DEFEND_F_IN_VOLUME_MOUNT,
                              DEFEND_F_FILE_MOUNT, DEFEND_F_WAS_EXECUTABLE, DEFEND_F_PATH_UNRESOLVED,
                              DEFEND_F_OLD_PATH_UNRESOLVED, DEFEND_F_CWD_UNRESOLVED, DEFEND_F_EXE_DELETED,
                              DEFEND_F_CWD_DELETED].map { Int32($0) }
        #expect(flags.allSatisfy { $0 > 0 && $0 & ($0 - 1) == 0 })
        #expect(Set(flags).count == flags.count)
    }

    /// The limits the evaluators model are the kernel's.
    @Test func limitsAgree() {
        #expect(PathLimits.pathMax == Int(DEFEND_PATH_MAX))
        #expect(PathLimits.patternMax == Int(DEFEND_PATTERN_MAX))
        #expect(PathLimits.walkSteps == Int(DEFEND_PATH_MAX) / 2 + 32)
    }
}
