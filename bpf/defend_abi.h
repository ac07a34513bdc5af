/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * Defend kernel <-> userspace ABI. Included by the BPF programs (with vmlinux.h) and by Swift
 * (through Sources/CLibBPF/shim.h). One definition, so both sides agree on every byte.
 *
 * Policy model in the kernel (see Sources/DefendPolicy/KernelTables.swift for the compiler):
 *   - Each policy section (file, process) has up to 64 selectors; selector i is bit i of a u64.
 *   - For one operation the kernel computes the mask of matching selectors as the AND of
 *     per-condition masks (operation, container, path, name, interactivity, volume), then fires
 *     every response whose `match` intersects it and whose `exclude` does not, and unions actions.
 *   - Tables exist in two generations (0/1); `defend_policy_state.active` names the one in force.
 *     Userspace writes the inactive generation completely, then flips `active` (atomic swap).
 */
#ifndef DEFEND_ABI_H
#define DEFEND_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define DEFEND_PATH_MAX 4096  /* path bytes resolved and carried, including the NUL (PATH_MAX) */
#define DEFEND_PATTERN_MAX 512 /* policy path string bytes, including the NUL */
#define DEFEND_ARGS_MAX 1024  /* argv bytes (NUL-separated) carried in an exec record */
#define DEFEND_COMM_LEN 16
#define DEFEND_MAX_RULES 64   /* selectors (+ responses) per section */
/* Steps of the path walk (components plus mount crossings): every path of up to PATH_MAX bytes
 * (at most PATH_MAX / 2 components) through up to 32 mounts is walked to the root, and so is a deeper
 * one (reached with relative paths) up to this many steps; one that needs more is unresolved
 * (DEFEND_F_PATH_UNRESOLVED, fail closed). The bound is the same with and without bpf_loop. */
#define DEFEND_WALK_STEPS (DEFEND_PATH_MAX / 2 + 32)
#define DEFEND_GENERATIONS 2
#define DEFEND_POLICY_PATHS_MAX 8192 /* policy_paths entries, both generations together (DefendPolicy.KernelCapacity) */

enum defend_section {
    DEFEND_SECTION_FILE = 0,
    DEFEND_SECTION_PROCESS = 1,
    DEFEND_SECTION_COUNT = 2,
};

/* Policy operations, in the order of the policy language. */
enum defend_op {
    DEFEND_OP_CREATE_EXECUTABLE = 0,
    DEFEND_OP_MODIFY_EXECUTABLE = 1,
    DEFEND_OP_CREATE_FILE = 2,
    DEFEND_OP_MODIFY_FILE = 3,
    DEFEND_OP_DELETE_FILE = 4,
    DEFEND_OP_FORK = 5,
    DEFEND_OP_EXEC = 6,
    DEFEND_OP_COUNT = 7,
    DEFEND_OP_NONE = 255, /* telemetry record that is not a policy operation (exit, setsid) */
};

enum defend_action {
    DEFEND_ACTION_LOG = 1,
    DEFEND_ACTION_ALERT = 2,
    DEFEND_ACTION_BLOCK = 4,
};

/* Where a record came from; userspace maps these to cloud_defend.hook_point names. */
enum defend_hook {
    DEFEND_HOOK_NONE = 0,
    DEFEND_HOOK_TP_FORK = 1,        /* tracepoint__sched_process_fork */
    DEFEND_HOOK_TP_EXEC = 2,        /* tracepoint__sched_process_exec */
    DEFEND_HOOK_TP_EXIT = 3,        /* tracepoint__sched_process_exit */
    DEFEND_HOOK_TP_SETSID = 4,      /* tracepoint__syscalls_sys_exit_setsid */
    DEFEND_HOOK_LSM_PATH_CHMOD = 5,
    DEFEND_HOOK_LSM_PATH_MKNOD = 6,
    DEFEND_HOOK_LSM_FILE_OPEN = 7,
    DEFEND_HOOK_LSM_PATH_TRUNCATE = 8,
    DEFEND_HOOK_LSM_PATH_RENAME = 9,
    DEFEND_HOOK_LSM_PATH_LINK = 10,
    DEFEND_HOOK_LSM_PATH_UNLINK = 11,
    DEFEND_HOOK_LSM_BPRM_CHECK = 12, /* lsm__bprm_check_security */
    DEFEND_HOOK_LSM_TASK_ALLOC = 13, /* lsm__task_alloc */
    DEFEND_HOOK_TP_CGROUP_MKDIR = 14,
    DEFEND_HOOK_TP_CGROUP_RMDIR = 15,
    DEFEND_HOOK_LSM_PATH_MKDIR = 16,
    DEFEND_HOOK_LSM_PATH_RMDIR = 17,
    DEFEND_HOOK_LSM_PATH_SYMLINK = 18,
    DEFEND_HOOK_LSM_INODE_SETXATTR = 19, /* a POSIX access ACL set through setxattr (up to 6.1) */
    DEFEND_HOOK_LSM_INODE_SET_ACL = 20,  /* a POSIX access ACL set (6.2+) */
    DEFEND_HOOK_LSM_MMAP_FILE = 21,      /* an executable mapping of a file (e.g. ld.so running a program) */
    DEFEND_HOOK_COUNT = 22,
};

enum defend_event_type {
    DEFEND_EV_FORK = 1,
    DEFEND_EV_EXEC = 2,
    DEFEND_EV_EXIT = 3,
    DEFEND_EV_SETSID = 4,
    DEFEND_EV_FILE = 5,
    DEFEND_EV_CGROUP_MKDIR = 6,
    DEFEND_EV_CGROUP_RMDIR = 7,
    DEFEND_EV_TYPE_COUNT = 8,
};

/* defend_event_header.flags */
#define DEFEND_F_DENIED (1u << 0)          /* the operation was refused (block) */
/* The path (exec: the executable) is longer than PATH_MAX: the field holds its first bytes, cut at a
 * component boundary. The decision was made on the whole path (policy strings are shorter than
 * DEFEND_PATTERN_MAX, so the first bytes decide). */
#define DEFEND_F_PATH_TRUNCATED (1u << 1)
#define DEFEND_F_ARGS_TRUNCATED (1u << 2)
#define DEFEND_F_CWD_TRUNCATED (1u << 3)
#define DEFEND_F_OLD_PATH_TRUNCATED (1u << 4)
#define DEFEND_F_IN_CONTAINER (1u << 5)    /* cgroup is a known container */
#define DEFEND_F_IN_VOLUME_MOUNT (1u << 6) /* file target is on a volume mount (`volume_mounts` holds its mount's root) */
#define DEFEND_F_FILE_MOUNT (1u << 7)      /* ... a file mount (DEFEND_VOLUME_FILE: a mounted file, configMap, secret...) */
#define DEFEND_F_WAS_EXECUTABLE (1u << 8)  /* file target had an execute bit before the operation */
/* The path could not be resolved from the root of the mount namespace: more than DEFEND_WALK_STEPS
 * steps, or not reachable from that root (a lazily unmounted or open_tree()-detached mount, another
 * namespace's mount, an internal mount, a disconnected dentry). The field holds the part that was
 * resolved, without a leading '/': it is not an absolute path and is never matched as one. Path
 * conditions treat it as "may match": a block that could apply refuses (fail closed) with an alert. */
#define DEFEND_F_PATH_UNRESOLVED (1u << 9)
#define DEFEND_F_OLD_PATH_UNRESOLVED (1u << 10)
#define DEFEND_F_CWD_UNRESOLVED (1u << 11)
/* exec: the executable (file) or the working directory (dentry) has no name left (unlinked / removed,
 * i_nlink == 0): the field holds the name it had. */
#define DEFEND_F_EXE_DELETED (1u << 12)
#define DEFEND_F_CWD_DELETED (1u << 13)

struct defend_event_header {
    __u32 type;              /* enum defend_event_type */
    __u32 hook;              /* enum defend_hook */
    __u64 ktime_ns;          /* bpf_ktime_get_boot_ns() */
    __u64 selectors;         /* matched selectors (bits of the section), reported by fired responses */
    __u32 actions;           /* enum defend_action bits decided in the kernel; 0 = telemetry only */
    __u32 flags;             /* DEFEND_F_* */
    __u32 op;                /* enum defend_op */
    __u32 generation;        /* policy generation that decided */
};

/* The task a record is about (the acting task; for fork the new child). */
struct defend_task {
    __u32 pid;                 /* tgid, initial pid namespace */
    __u32 tid;
    __u32 ppid;                /* real parent's tgid */
    __u32 pgid;
    __u32 sid;
    __u32 uid, euid, gid, egid;
    __u32 tty_major, tty_minor; /* controlling terminal of the session; 0/0 = none */
    __u64 start_ns;            /* group leader's start_boottime (ns since boot) */
    __u64 parent_start_ns;     /* real parent's group leader start_boottime */
    __u64 cap_effective;
    __u64 cap_permitted;
    __u64 cgroup_id;           /* cgroup v2 id (inode of the cgroup directory) */
    __u32 pid_ns_ino;          /* inode of the task's pid namespace */
    __u32 ns_pid;              /* tgid inside that namespace */
    char comm[DEFEND_COMM_LEN];
};

struct defend_fork_event {
    struct defend_event_header h;
    struct defend_task task;   /* the child (for a denied fork: the parent, child unknown) */
};

/* Records with paths are sent with their used bytes only (bpf_ringbuf_output of a per-CPU build
 * buffer): strings are packed one after another in `data`, each followed by its NUL, and the record
 * ends after the last one. A record is DEFEND_EXEC_DATA_OFFSET + the used bytes long, not 9 KB. */
struct defend_exec_event {
    struct defend_event_header h;
    struct defend_task task;
    __u32 filename_len;        /* bytes before the NUL; the filename starts at data[0] */
    __u32 cwd_len;             /* the cwd starts at data[filename_len + 1] */
    __u32 args_len;            /* argv bytes (NUL-separated) at data[filename_len + 1 + cwd_len + 1] */
    __u32 argc;                /* full argc, even when args is truncated */
    char data[DEFEND_PATH_MAX * 2 + DEFEND_ARGS_MAX]; /* filename (resolved executable), cwd, args */
};

struct defend_exit_event {
    struct defend_event_header h;
    struct defend_task task;
    __s32 exit_code;           /* raw wait status (code << 8 | signal) */
    __u32 pad;
};

struct defend_setsid_event {
    struct defend_event_header h;
    struct defend_task task;   /* after setsid: sid == pid */
};

struct defend_file_event {
    struct defend_event_header h;
    struct defend_task task;
    __u32 mode;                /* resulting mode (chmod/mknod) or current mode */
    __u32 path_len;            /* the target (new name for rename/link) at data[0] */
    __u32 old_path_len;        /* rename/link source at data[path_len + 1]; 0 = none */
    __u32 pad;
    __u64 ino;
    char data[DEFEND_PATH_MAX * 2]; /* path, old_path (packed, see defend_exec_event) */
};

struct defend_cgroup_event {
    struct defend_event_header h;
    __u64 cgroup_id;
    __u32 level;
    __u32 path_len;
    char path[DEFEND_PATH_MAX]; /* cgroup path relative to the hierarchy root */
};

/* ---------------------------------------------------------------- policy maps */

struct defend_response {
    __u64 match;
    __u64 exclude;
    __u32 actions;
    __u32 pad;
};

/* defend_policy.flags */
#define DEFEND_PF_LOADED (1u << 0)            /* a policy is present in this generation */
#define DEFEND_PF_PROCESS_TELEMETRY (1u << 1) /* send fork/exec/exit/setsid records even with no action
                                                 (userspace process tree); documents only for actions */
#define DEFEND_PF_EXEC_PATH_BLOCK (1u << 2)   /* a process response blocks and matches a selector that names
                                                 executables: reads of files are judged as execs (file_open) */

/* defend_policy.path_filter: 32,768 bits; the bit of a key is the top 15 bits of its hash mixed with its
 * length and (section << 8 | kind). Userspace (Sources/DefendKernel/KernelPolicyImage.swift) computes the
 * same bits. */
#define DEFEND_PATH_FILTER_BITS 32768
#define DEFEND_FILTER_MIX_LEN 0x9E3779B97F4A7C15ULL
#define DEFEND_FILTER_MIX_KIND 0xC2B2AE3D27D4EB4FULL
#define DEFEND_PATH_FILTER_BIT(hash, len, section_kind) \
    ((__u32)(((hash) + (__u64)(len) * DEFEND_FILTER_MIX_LEN + (__u64)(section_kind) * DEFEND_FILTER_MIX_KIND) >> 49))

/* Value of the `policy` ARRAY map, index = generation. */
struct defend_policy {
    __u32 flags;
    __u32 response_count[DEFEND_SECTION_COUNT];
    __u32 pad;
    __u64 op_mask[DEFEND_OP_COUNT];         /* selectors accepting the operation (or with no `operation`) */
    __u64 path_any_mask[DEFEND_SECTION_COUNT]; /* selectors without targetFilePath / processExecutable */
    __u64 name_any_mask;                    /* process selectors without processName */
    __u64 interactive_mask[2];              /* [0]: satisfied when the session has no tty, [1]: with a tty */
    __u64 volume_ok_mask;                   /* file selectors satisfied on a volume mount (no ignoreVolumeMounts) */
    __u64 file_mount_ok_mask;               /* ... on a file mount (neither ignoreVolumeMounts nor ignoreVolumeFiles) */
    __u64 host_mask[DEFEND_SECTION_COUNT];  /* container-condition mask for tasks outside containers (0 = not evaluated) */
    __u64 unknown_container_mask[DEFEND_SECTION_COUNT]; /* for containers not described yet */
    struct defend_response responses[DEFEND_SECTION_COUNT][DEFEND_MAX_RULES];
    /* One bit per policy_paths key of this generation (DEFEND_PATH_FILTER_BIT): a clear bit means no
     * such key, so the lookup is skipped. A set bit only lets the lookup happen, which still checks the
     * stored string: the filter saves the misses (most path components) and can never make a match. */
    __u64 path_filter[DEFEND_PATH_FILTER_BITS / 64];
};

/* Value of the `policy_state` ARRAY map, index 0. */
struct defend_policy_state {
    __u32 active;      /* generation in force */
    __u32 pad;
};

enum defend_path_kind {
    DEFEND_PATH_EXACT = 0,      /* the whole path equals the string */
    DEFEND_PATH_CHILD = 1,      /* string is a directory; direct children match (`dir/ *`) */
    DEFEND_PATH_DESCENDANT = 2, /* string is a directory; every descendant matches (`dir/ **`) */
    DEFEND_PATH_NAME = 3,       /* process name (comm, at most 15 bytes) */
    DEFEND_PATH_ANCESTOR = 4,   /* string is a directory at or above a pattern's base: moving or removing it
                                   moves the protected tree (directory rename/rmdir sources and targets) */
};

/*
 * Key of the `policy_paths` HASH map. `hash` is FNV-1a 64 over the string's bytes (no NUL);
 * a directory string carries no trailing slash ("" is the root for `/ *` and `/ **`).
 * The value repeats the string so a hash collision can never produce a match.
 */
struct defend_path_key {
    __u64 hash;
    __u32 generation;
    __u16 len;
    __u8 section;
    __u8 kind;
};

struct defend_path_value {
    __u64 mask;
    char str[DEFEND_PATTERN_MAX];
};

#define DEFEND_FNV_OFFSET 0xcbf29ce484222325ULL
#define DEFEND_FNV_PRIME 0x100000001b3ULL

/* Value of the `containers` HASH map, key = cgroup id (__u64). Present = the cgroup is a container. */
struct defend_container {
    __u64 mask[DEFEND_GENERATIONS][DEFEND_SECTION_COUNT]; /* container-condition mask per generation */
};

/*
 * Volume mounts. A mount is a volume by the identity of its root, never by a path: the key is the
 * root's inode number and its filesystem's device (super_block s_dev, the kernel's dev_t encoding
 * major << 20 | minor; userspace converts stat(2)'s st_dev). Userspace (the agent's ContainerState)
 * classifies each mount of a container's OCI spec (and pod spec) and writes its bind source's
 * identity here; a mount of the same root is that volume wherever it is mounted, so renames and
 * other names cannot change the decision. A mount other than the task's root mount that is not in
 * the map (runtime mounts: /dev, /dev/shm, /proc, a tmpfs; a mount not described yet) is no volume.
 */
enum defend_volume_kind {
    DEFEND_VOLUME_MOUNT = 1, /* a volume (emptyDir, hostPath, PVC, a plain bind mount): ignoreVolumeMounts */
    DEFEND_VOLUME_FILE = 2,  /* a file mount (a mounted file; configMap, secret, projected, downwardAPI
                                volumes): ignoreVolumeMounts and ignoreVolumeFiles */
};

/* Key of the `volume_mounts` HASH map (value: __u32 enum defend_volume_kind). */
struct defend_mount_key {
    __u64 ino;  /* mnt->mnt_root->d_inode->i_ino */
    __u32 dev;  /* mnt->mnt_sb->s_dev */
    __u32 pad;
};

#define DEFEND_VOLUME_MOUNTS_MAX 16384

#endif /* DEFEND_ABI_H */
