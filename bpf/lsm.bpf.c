// SPDX-License-Identifier: GPL-2.0-only
/*
 * Defend BPF-LSM half: file operations (log/alert/block) and the process gates (block only;
 * the tracepoints in sensor.bpf.c report fork/exec). A separate object so the tracepoint half
 * still loads where BPF-LSM is not active. Userspace makes this object re-use the sensor
 * object's maps (events, losses, policy, policy_state, policy_paths, containers).
 */
#include "defend_common.h"

static __always_inline int is_regular(__u32 mode)
{
    return (mode & S_IFMT) == S_IFREG;
}

static __always_inline __u32 inode_mode(struct dentry *d)
{
    return BPF_CORE_READ(d, d_inode, i_mode);
}

/* Roots of volume mounts (see defend_abi.h); written by userspace only. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, DEFEND_VOLUME_MOUNTS_MAX);
    __type(key, struct defend_mount_key);
    __type(value, __u32); /* enum defend_volume_kind */
} volume_mounts SEC(".maps");

#define OPB(op) (1u << (op))
#define OPS_ALL (OPB(DEFEND_OP_CREATE_EXECUTABLE) | OPB(DEFEND_OP_MODIFY_EXECUTABLE) | OPB(DEFEND_OP_CREATE_FILE) | \
                 OPB(DEFEND_OP_MODIFY_FILE) | OPB(DEFEND_OP_DELETE_FILE))
#define S_IFDIR 0040000
#define RENAME_EXCHANGE 2

/* One name an operation changes: where it is and which operations it amounts to there. */
struct file_side {
    struct vfsmount *mnt;
    struct dentry *dentry;
    __u32 ops;      /* OPB() bits judged with every selector */
    __u32 path_ops; /* OPB() bits judged with selectors that have a path condition only: a change to
                       a named tree that selectors about operations (drift) see at the other name */
    __u32 tree;     /* a directory moves or goes: ANCESTOR entries (protected trees below it) count */
    __u32 pad;
};

struct file_op {
    __u32 hook;
    __u32 op;             /* the operation reported (the target's) */
    __u32 mode;
    __u32 flags;          /* DEFEND_F_WAS_EXECUTABLE */
    __u64 ino;
    struct file_side t;   /* target (new name for rename/link); t.ops = 0 means OPB(op) */
    struct file_side o;   /* rename/link source; o.dentry NULL when none */
    __u32 evaluated;      /* out: the operation was in the policy's scope and fully decided */
    __u32 gen;            /* out: the generation it was decided on */
    __u64 truncate_path;  /* path_truncate: its struct path *, to skip the O_TRUNC open file_open decided */
    struct file *open_file; /* file_open: the file (an overlay's own open of a layer's file is not judged) */
};

static __always_inline __u64 ops_mask(struct defend_policy *p, __u32 ops)
{
    __u64 m = 0;
#pragma unroll
    for (int op = 0; op <= DEFEND_OP_DELETE_FILE; op++)
        if (ops & OPB(op))
            m |= p->op_mask[op];
    return m;
}

/* Volume conditions of the mount `mnt`: the task's root mount is never a volume (no lookup); another
 * mount is the kind `volume_mounts` holds for its root, and no volume when its root is not there. */
static __always_inline __u64 volume_mask(struct defend_policy *p, struct vfsmount *mnt, struct vfsmount *root_mnt,
                                         __u32 *vflags)
{ /* vflags may be NULL (a rename's source: its volume is not reported) */
    if (mnt == root_mnt || !mnt)
        return ~0ULL;
    struct defend_mount_key k = {};
    k.ino = BPF_CORE_READ(mnt, mnt_root, d_inode, i_ino);
    k.dev = BPF_CORE_READ(mnt, mnt_sb, s_dev);
    __u32 *kind = bpf_map_lookup_elem(&volume_mounts, &k);
    if (!kind)
        return ~0ULL;
    if (vflags)
        *vflags |= DEFEND_F_IN_VOLUME_MOUNT;
    if (*kind == DEFEND_VOLUME_FILE) {
        if (vflags)
            *vflags |= DEFEND_F_FILE_MOUNT;
        return p->file_mount_ok_mask;
    }
    return p->volume_ok_mask;
}

/* Selectors a side's operations and container can match (before its mount and path are looked at). */
static __always_inline __u64 side_ops(struct defend_policy *p, struct file_side *sd, __u64 cmask)
{
    __u64 any = p->path_any_mask[DEFEND_SECTION_FILE];
    return (ops_mask(p, sd->ops) | (ops_mask(p, sd->path_ops) & ~any)) & cmask;
}

/*
 * O_TRUNC opens decided by file_open, so that the path_truncate that follows (up to 6.1) neither reports
 * the open a second time nor pays for a second decision. The mark is per CPU (scratch: no map update and
 * delete, which cost about 2,000 instructions per open): a task that moved to another CPU between the two
 * hooks, or whose mark another task's open replaced, is simply decided again (a second record, never a
 * missed one). handle_truncate passes the open file's own f_path, so the mark is that address, with the
 * dentry, task, operation and policy generation that were decided: a truncate(2) (its path is on the
 * stack) never matches. A mark whose truncate never came (the open failed between the hooks, so the file
 * was freed) can only spare an ftruncate of a later file at the same address, of the same name, by the
 * same task, for the same operation under the same policy: a decision that later file's own open for
 * write repeated.
 */
static __always_inline void mark_truncating_open(struct file *file, struct file_op *f)
{
    struct scratch *s = get_scratch();
    if (!s)
        return;
    s->trunc_task = bpf_get_current_pid_tgid();
    s->trunc_path = (__u64)&file->f_path;
    s->trunc_dentry = (__u64)f->t.dentry;
    s->trunc_gen_op = ((__u64)f->gen << 32) | f->op;
}

/* The O_TRUNC open that led to this truncate was decided already (and forget it). */
static __always_inline int truncate_already_decided(struct file_op *f, __u32 gen)
{
    struct scratch *s = get_scratch();
    if (!s || !s->trunc_path || s->trunc_path != f->truncate_path || s->trunc_dentry != (__u64)f->t.dentry ||
        s->trunc_task != bpf_get_current_pid_tgid() || s->trunc_gen_op != (((__u64)gen << 32) | f->op))
        return 0;
    s->trunc_path = 0;
    return 1;
}

/*
 * The record of a refused exec, or of an operation judged as one: the executable's name is
 * scratch.path[0] (already judged), the task's working directory is resolved into slot 1. `comm`
 * replaces the task's name when given (bprm_check: the name the exec would set). Returns -EPERM.
 */
static __always_inline int send_denied_exec(struct scratch *s, struct verdict *v, __u32 hook, struct task_struct *cur,
                                            __u32 argc, const char *comm)
{
    union defend_record *r = get_record();
    if (!r)
        return -EPERM;
    struct defend_exec_event *e = &r->exec;
    fill_header(&e->h, DEFEND_EV_EXEC, hook, v, DEFEND_OP_EXEC);
    e->h.flags |= DEFEND_F_DENIED | path_flags(s, 0, DEFEND_F_PATH_TRUNCATED, DEFEND_F_PATH_UNRESOLVED);
    fill_task(&e->task, cur);
    if (comm)
        __builtin_memcpy(e->task.comm, comm, sizeof(e->task.comm));
    __u32 off = pack_path(e->data, 0, 0, &e->filename_len, s, 0);
    resolve_path(s, 1, BPF_CORE_READ(cur, fs, pwd.mnt), BPF_CORE_READ(cur, fs, pwd.dentry));
    e->h.flags |= path_flags(s, 1, DEFEND_F_CWD_TRUNCATED, DEFEND_F_CWD_UNRESOLVED);
    off = pack_path(e->data, off, DEFEND_PATH_MAX, &e->cwd_len, s, 1);
    e->argc = argc;
    e->args_len = 0; /* a refused exec never installs its argv */
    send_record(e, __builtin_offsetof(struct defend_exec_event, data) + off, urgent(e->h.actions), DEFEND_EV_EXEC);
    return -EPERM;
}

#define FMODE_NOACCOUNT 0x20000000 /* 5.10 to 6.12: set only on the kernel's own internal file objects */
#define MNT_NS_INTERNAL (-22L)     /* ERR_PTR(-EINVAL): the mnt_ns of a kernel-private mount */

/*
 * overlayfs (a container's root filesystem) opens its layers' files itself: the real file behind
 * every open of an overlay file (open_with_fake_path up to 6.5, backing_file_open from 6.6: both
 * FMODE_NOACCOUNT, caught before this is called) and, at copy-up, the lower file to read and the
 * upper file to write. Copy-up's files lie on a private clone of a layer's mount (mnt_ns
 * MNT_NS_INTERNAL), opened under the overlay's own credentials (override_creds: cred is not
 * real_cred). No task can name such a file, and the task's own operation was judged at its overlay
 * name before it; judged again, it would be an unresolved path (a block that could apply would
 * refuse every write in the container). A task's own open of a private mount's file (through
 * /proc/PID/map_files, which needs CAP_CHECKPOINT_RESTORE) keeps its credentials, and is judged.
 */
static __always_inline int overlay_layer_open(struct file *file, struct task_struct *cur)
{
    struct mount *m = real_mount(BPF_CORE_READ(file, f_path.mnt));
    if ((long)BPF_CORE_READ(m, mnt_ns) != MNT_NS_INTERNAL)
        return 0;
    return (void *)BPF_CORE_READ(cur, cred) != (void *)BPF_CORE_READ(cur, real_cred);
}

/* Decide, report and enforce one file operation (every name it changes). Returns the LSM verdict. */
static __always_inline int file_decide(struct file_op *f)
{
    struct verdict v = {};
    if (!f->t.ops)
        f->t.ops = OPB(f->op);
    /* Operations no selector of the policy in force takes (most opens for write, with the default
     * policy) stop here, before the task's cgroup and container are looked up. */
    __u32 gen;
    struct defend_policy *p = active_policy(&gen);
    if (!p)
        return 0;
    __u64 m0 = side_ops(p, &f->t, ~0ULL);
    __u64 m1 = f->o.dentry ? side_ops(p, &f->o, ~0ULL) : 0;
    if (!m0 && !m1)
        return 0;
    __u64 cmask;
    p = policy_scope(&v, p, gen, DEFEND_SECTION_FILE, bpf_get_current_cgroup_id(), &cmask);
    if (!p)
        return 0;
    m0 &= cmask;
    m1 &= cmask;
    if (!m0 && !m1)
        return 0; /* no selector that takes the operation applies to this task's container (or host) */
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct vfsmount *root_mnt = BPF_CORE_READ(cur, fs, root.mnt);
    __u32 vflags = 0;
    if (m0)
        m0 &= volume_mask(p, f->t.mnt, root_mnt, &vflags);
    if (m1)
        m1 &= volume_mask(p, f->o.mnt, root_mnt, NULL);
    if (!m0 && !m1)
        return 0;
    /* Only operations in scope pay for these checks. */
    if (f->open_file && overlay_layer_open(f->open_file, cur))
        return 0;
    if (f->truncate_path && truncate_already_decided(f, v.gen))
        return 0;
    f->evaluated = 1;
    f->gen = v.gen;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;

    __u64 unknown = judge_name(s, 0, p, v.gen, DEFEND_SECTION_FILE, &m0, f->t.tree, f->t.mnt, f->t.dentry, 0);
    if (f->o.dentry)
        unknown |= judge_name(s, 1, p, v.gen, DEFEND_SECTION_FILE, &m1, f->o.tree, f->o.mnt, f->o.dentry, 0);
    __u64 m = m0 | m1;
    if (!m)
        return 0;
    policy_fire(&v, p, DEFEND_SECTION_FILE, m, unknown & m);
    if (!v.actions)
        return 0;

    int deny = (v.actions & DEFEND_ACTION_BLOCK) != 0;
    union defend_record *r = get_record();
    if (!r)
        return deny ? -EPERM : 0;
    struct defend_file_event *e = &r->file;
    fill_header(&e->h, DEFEND_EV_FILE, f->hook, &v, f->op);
    e->h.flags |= vflags | f->flags | (deny ? DEFEND_F_DENIED : 0);
    e->h.flags |= path_flags(s, 0, DEFEND_F_PATH_TRUNCATED, DEFEND_F_PATH_UNRESOLVED);
    fill_task(&e->task, cur);
    e->mode = f->mode;
    e->ino = f->ino;
    e->pad = 0;
    __u32 off = pack_path(e->data, 0, 0, &e->path_len, s, 0);
    e->old_path_len = 0;
    if (f->o.dentry) {
        e->h.flags |= path_flags(s, 1, DEFEND_F_OLD_PATH_TRUNCATED, DEFEND_F_OLD_PATH_UNRESOLVED);
        off = pack_path(e->data, off, DEFEND_PATH_MAX, &e->old_path_len, s, 1);
    }
    send_record(e, __builtin_offsetof(struct defend_file_event, data) + off, urgent(e->h.actions), DEFEND_EV_FILE);
    return deny ? -EPERM : 0;
}

/* open(O_CREAT) of a new file arrives here too (may_o_create), with S_IFREG in the mode. */
SEC("lsm/path_mknod")
int BPF_PROG(defend_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode, unsigned int dev, int ret)
{
    if (ret)
        return ret;
    __u32 md = mode;
    if ((md & S_IFMT) == 0)
        md |= S_IFREG; /* mknod(2) with no type creates a regular file */
    /* a device, fifo or socket is a new name too (never an executable) */
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_MKNOD,
        .op = (is_regular(md) && (md & S_IXUGO)) ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE,
        .mode = md,
        .t = { .mnt = BPF_CORE_READ(dir, mnt), .dentry = dentry },
    };
    return file_decide(&f);
}


/*
 * A file put to use as a program other than by its execve (read as input, mapped executable): judged
 * as an exec of it by the selectors that name executables, with the task's name and session; an
 * unnamed file (memfd) is not failed closed. Block only. The task's own executable is not judged: by
 * inode for reads, by the file itself for mappings. Without a block that names executables
 * (DEFEND_PF_EXEC_PATH_BLOCK), this costs two array lookups.
 */
static __always_inline int judge_file_as_exec(struct file *file, __u32 hook, int self_by_inode)
{
    __u32 gen;
    struct defend_policy *p = active_policy(&gen);
    if (!p || !(p->flags & DEFEND_PF_EXEC_PATH_BLOCK))
        return 0;
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    if (overlay_layer_open(file, cur))
        return 0;
    struct file *exe = BPF_CORE_READ(cur, mm, exe_file);
    if ((void *)exe == (void *)file ||
        (self_by_inode && (void *)BPF_CORE_READ(exe, f_inode) == (void *)BPF_CORE_READ(file, f_inode)))
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    load_comm(s, cur);
    struct verdict v = {};
    decide_process(&v, s, DEFEND_OP_EXEC, cur, 0, file, 1);
    if (!(v.actions & DEFEND_ACTION_BLOCK))
        return 0;
    return send_denied_exec(s, &v, hook, cur, 0, NULL);
}

/*
 * An executable read as a program's input is judged as an exec of it, by the selectors that name
 * executables (as mmap_file judges an executable mapping): `sh /usr/local/bin/script`, `sh < script`,
 * `python3 script`, and the read a copy needs (`cp`, `cat f > g`) would otherwise run, or carry
 * away, what an exec block refuses (judge_file_as_exec). Files without an execute bit cannot be
 * exec'd, so they are not judged; exec's own open (FMODE_EXEC) is bprm_check's.
 */
#define FMODE_READ 0x1
#define FMODE_EXEC 0x20
#define __FMODE_EXEC 0x20 /* in f_flags: exec's own opens (open_exec, uselib); open(2) cannot set it */
SEC("lsm/file_open")
int BPF_PROG(defend_file_open, struct file *file, int ret)
{
    if (ret)
        return ret;
    /* Every open passes here: read through the BTF-typed arguments directly (plain loads, CO-RE
     * relocated) instead of bpf_probe_read_kernel calls. */
    __u32 fmode = file->f_mode;
    __u32 fflags = file->f_flags;
    if (fmode & FMODE_CREATED)
        return 0; /* reported by path_mknod */
    if (fmode & FMODE_NOACCOUNT)
        return 0; /* a stacked filesystem's real file behind an open judged at its own name */
    struct inode *inode = file->f_inode;
    __u32 md = inode->i_mode;
    if (!is_regular(md))
        return 0;
    /* a read of an executable (O_RDWR included), not exec's own open */
    if ((fmode & FMODE_READ) && !(fmode & FMODE_EXEC) && !(fflags & __FMODE_EXEC) && (md & S_IXUGO)) {
        int rc = judge_file_as_exec(file, DEFEND_HOOK_LSM_FILE_OPEN, 1);
        if (rc)
            return rc;
    }
    if (!(fmode & FMODE_WRITE) && !(fflags & O_TRUNC))
        return 0; /* other reads are not events */
    int exe = (md & S_IXUGO) != 0;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_FILE_OPEN,
        .op = exe ? DEFEND_OP_MODIFY_EXECUTABLE : DEFEND_OP_MODIFY_FILE,
        .mode = md,
        .flags = exe ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = inode->i_ino,
        .t = { .mnt = file->f_path.mnt, .dentry = file->f_path.dentry },
        .open_file = file,
    };
    int verdict = file_decide(&f);
    /* Up to 6.1 an O_TRUNC open continues into security_path_truncate (handle_truncate); since
     * 6.2 it goes to the file_truncate hook instead, so there is nothing to de-duplicate. An open
     * that was decided (in scope) is remembered so the truncate that follows neither reports it a
     * second time nor pays for a second decision (a per-CPU mark, mark_truncating_open). */
    if (f.evaluated && verdict == 0 && (fflags & O_TRUNC) && !bpf_core_field_exists(union security_list_options, file_truncate))
        mark_truncating_open(file, &f);
    return verdict;
}

SEC("lsm/path_truncate")
int BPF_PROG(defend_path_truncate, const struct path *path, int ret)
{
    if (ret)
        return ret;
    struct dentry *d = path->dentry;
    struct inode *inode = d->d_inode;
    __u32 md = inode->i_mode;
    if (!is_regular(md))
        return 0;
    __u64 ino = inode->i_ino;
    int exe = (md & S_IXUGO) != 0;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_TRUNCATE,
        .op = exe ? DEFEND_OP_MODIFY_EXECUTABLE : DEFEND_OP_MODIFY_FILE,
        .mode = md,
        .flags = exe ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = ino,
        .t = { .mnt = path->mnt, .dentry = d },
        .truncate_path = (__u64)path, /* the O_TRUNC open that led here may have been decided by file_open */
    };
    return file_decide(&f);
}

SEC("lsm/path_chmod")
int BPF_PROG(defend_path_chmod, const struct path *path, umode_t mode, int ret)
{
    if (ret)
        return ret;
    struct dentry *d = BPF_CORE_READ(path, dentry);
    struct inode *inode = BPF_CORE_READ(d, d_inode);
    __u32 old = BPF_CORE_READ(inode, i_mode);
    __u32 md = (mode & 07777) | (old & S_IFMT);
    __u32 op;
    if (!is_regular(old))
        op = DEFEND_OP_MODIFY_FILE; /* a directory's or device's mode is a change to it */
    else if (old & S_IXUGO)
        op = DEFEND_OP_MODIFY_EXECUTABLE;
    else if (md & S_IXUGO)
        op = DEFEND_OP_CREATE_EXECUTABLE;
    else
        op = DEFEND_OP_MODIFY_FILE;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_CHMOD,
        .op = op,
        .mode = md,
        .flags = (is_regular(old) && (old & S_IXUGO)) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(inode, i_ino),
        .t = { .mnt = BPF_CORE_READ(path, mnt), .dentry = d },
    };
    return file_decide(&f);
}

/*
 * Mode bits change by another route than chmod: a POSIX access ACL sets the owner, group (mask) and
 * other permission bits of i_mode (posix_acl_update_mode), so `setfacl -m u::rwx f` makes f
 * executable. Judged like path_chmod: createExecutable when the ACL grants an execute bit to a file
 * that had none, modifyExecutable for an executable, modifyFile otherwise.
 * Inode hooks carry no mount: the name is resolved through the task's root mount when the inode is
 * on that filesystem (the path from the namespace root; a bind mount of it gives the same name),
 * else through its filesystem's earliest mount in the task's mount namespace (defend_earliest_mount);
 * unresolved (judged fail closed) when none is found there.
 */
#define ACL_EXECUTE 0x01
#define ACL_MAX_ENTRIES 16

struct posix_acl_xattr_entry___defend {
    __u16 e_tag;
    __u16 e_perm;
    __u32 e_id;
};

static __always_inline int acl_file_decide(__u32 hook, struct dentry *dentry, __u32 grants_exec)
{
    struct inode *inode = BPF_CORE_READ(dentry, d_inode);
    if (!inode)
        return 0;
    __u32 old = BPF_CORE_READ(inode, i_mode);
    __u32 op;
    if (!is_regular(old))
        op = DEFEND_OP_MODIFY_FILE;
    else if (old & S_IXUGO)
        op = DEFEND_OP_MODIFY_EXECUTABLE;
    else if (grants_exec)
        op = DEFEND_OP_CREATE_EXECUTABLE;
    else
        op = DEFEND_OP_MODIFY_FILE;
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct vfsmount *root = BPF_CORE_READ(cur, fs, root.mnt);
    struct super_block *sb = BPF_CORE_READ(dentry, d_sb);
    if (BPF_CORE_READ(root, mnt_sb) != sb) /* 0 when none is found: unresolved, judged fail closed */
        root = (struct vfsmount *)defend_earliest_mount((__u64)sb);
    struct file_op f = {
        .hook = hook,
        .op = op,
        .mode = old,
        .flags = (is_regular(old) && (old & S_IXUGO)) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(inode, i_ino),
        .t = { .mnt = root, .dentry = dentry },
    };
    return file_decide(&f);
}

static __always_inline int is_acl_access_name(const char *name)
{
    char buf[24] = {};
    bpf_probe_read_kernel_str(buf, sizeof(buf), name);
    /* "system.posix_acl_access" */
    const char want[] = "system.posix_acl_access";
#pragma unroll
    for (int i = 0; i < (int)sizeof(want); i++)
        if (buf[i] != want[i])
            return 0;
    return 1;
}

static __always_inline int setxattr_decide(struct dentry *dentry, const char *name, const void *value, __u64 size)
{
    if (!is_acl_access_name(name))
        return 0;
    __u32 grants = 0;
    __u32 count = size > 4 ? (size - 4) / 8 : 0;
#pragma unroll
    for (__u32 i = 0; i < ACL_MAX_ENTRIES; i++) {
        struct posix_acl_xattr_entry___defend e = {};
        if (i < count)
            bpf_probe_read_kernel(&e, sizeof(e), value + 4 + i * 8);
        if (e.e_perm & ACL_EXECUTE)
            grants = 1;
    }
    if (count > ACL_MAX_ENTRIES)
        grants = 1; /* more entries than read: assume the worst */
    return acl_file_decide(DEFEND_HOOK_LSM_INODE_SETXATTR, dentry, grants);
}

/* An argument the verifier will not let a program load from its context (a pointer to char or
 * void): read it with a helper instead. */
static __always_inline __u64 ctx_arg(unsigned long long *ctx, int i)
{
    __u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), &ctx[i]);
    return v;
}

/* inode_setxattr has two signatures: the loader keeps the program whose argument count the
 * kernel's bpf_lsm_inode_setxattr has (5.12 added the user namespace / idmap argument). */
SEC("lsm/inode_setxattr")
int defend_inode_setxattr(unsigned long long *ctx)
{
    /* (userns or idmap, dentry, name, value, size, flags) and the previous verdict */
    int ret = (int)ctx[6];
    if (ret)
        return ret;
    return setxattr_decide((struct dentry *)ctx[1], (const char *)ctx_arg(ctx, 2), (const void *)ctx_arg(ctx, 3), ctx[4]);
}

SEC("lsm/inode_setxattr")
int defend_inode_setxattr_510(unsigned long long *ctx)
{
    /* 5.10: (dentry, name, value, size, flags) and the previous verdict */
    int ret = (int)ctx[5];
    if (ret)
        return ret;
    return setxattr_decide((struct dentry *)ctx[0], (const char *)ctx_arg(ctx, 1), (const void *)ctx_arg(ctx, 2), ctx[3]);
}

struct posix_acl_entry___defend {
    short e_tag;
    unsigned short e_perm;
} __attribute__((preserve_access_index));

/* 6.2+: ACLs are set through this hook, not inode_setxattr. Absent before: not loaded there. */
SEC("lsm/inode_set_acl")
int defend_inode_set_acl(unsigned long long *ctx)
{
    /* (idmap, dentry, acl_name, kacl) and the previous verdict */
    int ret = (int)ctx[4];
    if (ret)
        return ret;
    struct dentry *dentry = (struct dentry *)ctx[1];
    const char *acl_name = (const char *)ctx_arg(ctx, 2);
    struct posix_acl *kacl = (struct posix_acl *)ctx[3];
    if (!is_acl_access_name(acl_name))
        return 0;
    __u32 grants = 0;
    if (kacl) {
        __u32 count = BPF_CORE_READ(kacl, a_count);
#pragma unroll
        for (__u32 i = 0; i < ACL_MAX_ENTRIES; i++) {
            unsigned short perm = 0;
            if (i < count)
                perm = BPF_CORE_READ(kacl, a_entries[i].e_perm);
            if (perm & ACL_EXECUTE)
                grants = 1;
        }
        if (count > ACL_MAX_ENTRIES)
            grants = 1;
    }
    return acl_file_decide(DEFEND_HOOK_LSM_INODE_SET_ACL, dentry, grants);
}

/* What an item (the inode behind a name) is, for the operations its moves amount to. */
struct item {
    __u32 mode;
    __u32 present;
};

static __always_inline struct item item_of(struct dentry *d)
{
    struct inode *inode = BPF_CORE_READ(d, d_inode);
    struct item it = { .mode = inode ? BPF_CORE_READ(inode, i_mode) : 0, .present = inode != 0 };
    return it;
}

static __always_inline int item_dir(struct item it) { return (it.mode & S_IFMT) == S_IFDIR; }
static __always_inline int item_exe(struct item it) { return is_regular(it.mode) && (it.mode & S_IXUGO); }

/* `it` arrives at `sd`'s name: a creation there; a directory brings a tree of names with it. */
static __always_inline void arrive(struct file_side *sd, struct item it)
{
    sd->ops |= OPB(item_exe(it) ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE);
    if (item_dir(it)) {
        sd->path_ops |= OPB(DEFEND_OP_CREATE_FILE) | OPB(DEFEND_OP_CREATE_EXECUTABLE);
        sd->tree = 1;
    }
}

/* `it` leaves `sd`'s name: its name goes and the file that was there is changed for that tree
 * (moving a protected item out of its tree is a change to that tree; `mv /etc /etc_old` included). */
static __always_inline void leave(struct file_side *sd, struct item it)
{
    sd->path_ops |= OPB(DEFEND_OP_DELETE_FILE) |
                    OPB(item_exe(it) ? DEFEND_OP_MODIFY_EXECUTABLE : DEFEND_OP_MODIFY_FILE);
    if (item_dir(it)) {
        sd->path_ops |= OPS_ALL;
        sd->tree = 1;
    }
}

/*
 * Exec blocking follows the file, not only its name. A hard link to a file an exec block names (by
 * processExecutable), or a rename that takes such a file, or a directory holding such names, away
 * from its name, would let it run under a name no rule names. So the name it has is judged, by
 * the process section's selectors that name executables, as an exec of it; a block refuses the
 * link or rename (an exec record, denied, with this hook). processName and sessionLeaderInteractive
 * cannot be known for the later exec (the new name sets its comm): selectors with them may match
 * but cannot exclude, so such a block fails closed.
 */
static __always_inline int exec_names_gate(__u32 hook, struct vfsmount *mnt, struct dentry *d, struct item it)
{
    if (!is_regular(it.mode) && !item_dir(it))
        return 0;
    struct verdict v = {};
    __u64 m;
    struct defend_policy *p = policy_start(&v, DEFEND_SECTION_PROCESS, DEFEND_OP_EXEC, bpf_get_current_cgroup_id(), &m);
    if (!p)
        return 0;
    m &= ~p->path_any_mask[DEFEND_SECTION_PROCESS];
    if (!m)
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    __u64 unknown = judge_name(s, 0, p, v.gen, DEFEND_SECTION_PROCESS, &m, item_dir(it), mnt, d, 0);
    if (!m)
        return 0;
    __u64 undecidable = ~p->name_any_mask | ~(p->interactive_mask[0] & p->interactive_mask[1]);
    policy_fire(&v, p, DEFEND_SECTION_PROCESS, m, (unknown | undecidable) & m);
    if (!(v.actions & DEFEND_ACTION_BLOCK))
        return 0;
    return send_denied_exec(s, &v, hook, (struct task_struct *)bpf_get_current_task(), 0, NULL);
}

/*
 * Rename judges every name it changes. The target: the item arriving (creation), and the item it
 * replaces (a change and a deletion there). The source: the item leaving (see `leave`). With
 * RENAME_EXCHANGE both names get both roles. Directories are judged like files, and a directory
 * that moves carries its tree: ANCESTOR entries make `mv /usr/local /x` a change to the tree /usr/local/bin.
 * (5.10 calls this hook twice with the names swapped for an exchange, without flags: each call
 * judges its target and source, so both names are covered too.)
 */
SEC("lsm/path_rename")
int BPF_PROG(defend_path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
             struct dentry *new_dentry, unsigned int flags)
{
    struct item a = item_of(old_dentry), b = item_of(new_dentry);
    int exchange = (flags & RENAME_EXCHANGE) && b.present;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_RENAME,
        .op = item_exe(a) ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE,
        .mode = a.mode,
        .flags = item_exe(a) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(old_dentry, d_inode, i_ino),
        .t = { .mnt = BPF_CORE_READ(new_dir, mnt), .dentry = new_dentry },
        .o = { .mnt = BPF_CORE_READ(old_dir, mnt), .dentry = old_dentry },
    };
    arrive(&f.t, a);
    leave(&f.o, a);
    if (b.present) {
        if (exchange) {
            leave(&f.t, b);
            arrive(&f.o, b);
        } else {
            f.t.ops |= OPB(DEFEND_OP_DELETE_FILE) | OPB(item_exe(b) ? DEFEND_OP_MODIFY_EXECUTABLE : DEFEND_OP_MODIFY_FILE);
        }
    }
    int rc = file_decide(&f);
    if (rc)
        return rc;
    /* the item leaving its name, and with an exchange the one leaving the target */
    rc = exec_names_gate(DEFEND_HOOK_LSM_PATH_RENAME, f.o.mnt, old_dentry, a);
    if (rc || !exchange)
        return rc;
    return exec_names_gate(DEFEND_HOOK_LSM_PATH_RENAME, f.t.mnt, new_dentry, b);
}

/*
 * A hard link is a creation at the new name and, for the file it names, a change: every later
 * write, chmod or truncate through the new name changes the protected file, and a path-based
 * decision would judge it by the new name only. So the link itself is judged at the source, as the
 * changes it enables (modify, and createExecutable for a file a chmod +x could make executable), by
 * the selectors that name paths; refusing it keeps a protected file from ever having an unprotected
 * name. Names that existed before the policy (or the agent) are a documented limit.
 */
SEC("lsm/path_link")
int BPF_PROG(defend_path_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, int ret)
{
    if (ret)
        return ret;
    struct item a = item_of(old_dentry);
    struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt);
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_LINK,
        .op = item_exe(a) ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE,
        .mode = a.mode,
        .flags = item_exe(a) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(old_dentry, d_inode, i_ino),
        .t = { .mnt = mnt, .dentry = new_dentry },
        .o = { .mnt = mnt, .dentry = old_dentry }, /* links never cross mounts */
    };
    arrive(&f.t, a);
    f.o.path_ops = item_exe(a) ? OPB(DEFEND_OP_MODIFY_EXECUTABLE)
                               : OPB(DEFEND_OP_MODIFY_FILE) | OPB(DEFEND_OP_CREATE_EXECUTABLE);
    int rc = file_decide(&f);
    return rc ? rc : exec_names_gate(DEFEND_HOOK_LSM_PATH_LINK, mnt, old_dentry, a);
}

SEC("lsm/path_unlink")
int BPF_PROG(defend_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
    if (ret)
        return ret;
    struct item a = item_of(dentry);
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_UNLINK,
        .op = DEFEND_OP_DELETE_FILE,
        .mode = a.mode,
        .flags = item_exe(a) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(dentry, d_inode, i_ino),
        .t = { .mnt = BPF_CORE_READ(dir, mnt), .dentry = dentry },
    };
    return file_decide(&f);
}

SEC("lsm/path_mkdir")
int BPF_PROG(defend_path_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode, int ret)
{
    if (ret)
        return ret;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_MKDIR,
        .op = DEFEND_OP_CREATE_FILE,
        .mode = (mode & 07777) | S_IFDIR,
        .t = { .mnt = BPF_CORE_READ(dir, mnt), .dentry = dentry },
    };
    return file_decide(&f);
}

/* rmdir removes an empty directory; when it holds a protected tree's base, that tree goes with it. */
SEC("lsm/path_rmdir")
int BPF_PROG(defend_path_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
    if (ret)
        return ret;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_RMDIR,
        .op = DEFEND_OP_DELETE_FILE,
        .mode = item_of(dentry).mode,
        .ino = BPF_CORE_READ(dentry, d_inode, i_ino),
        .t = { .mnt = BPF_CORE_READ(dir, mnt), .dentry = dentry, .path_ops = OPS_ALL, .tree = 1 },
    };
    return file_decide(&f);
}

SEC("lsm/path_symlink")
int BPF_PROG(defend_path_symlink, const struct path *dir, struct dentry *dentry, const char *old_name, int ret)
{
    if (ret)
        return ret;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_SYMLINK,
        .op = DEFEND_OP_CREATE_FILE,
        .mode = 0120777,
        .t = { .mnt = BPF_CORE_READ(dir, mnt), .dentry = dentry },
    };
    return file_decide(&f);
}

/* ------------------------------------------------------------------ process gates (block only) */

struct slash_ctx {
    __u32 last; /* index after the last '/' */
    __u32 len;
};

/* 8 bytes of the name per call */
static long slash_step(__u32 i, void *arg)
{
    struct slash_ctx *c = arg;
    struct scratch *s = get_scratch();
    if (!s)
        return 1;
    __u32 base = i * 8;
#pragma unroll
    for (__u32 j = 0; j < 8; j++) {
        __u32 k = base + j;
        char ch = s->path[1][k & (DEFEND_PATH_MAX - 1)];
        if (!ch || k >= DEFEND_PATH_MAX - 1) {
            c->len = k;
            return 1;
        }
        if (ch == '/')
            c->last = k + 1;
    }
    return 0;
}
DEFEND_LOOP_STEP(slash_step, struct slash_ctx)


SEC("lsm/bprm_check_security")
int BPF_PROG(defend_bprm_check, struct linux_binprm *bprm, int ret)
{
    if (ret)
        return ret;
    /* out of scope (no policy, host with scope containers, no exec selector): nothing to do */
    struct verdict probe = {};
    __u64 m;
    if (!policy_start(&probe, DEFEND_SECTION_PROCESS, DEFEND_OP_EXEC, bpf_get_current_cgroup_id(), &m))
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    /* name = basename of bprm->filename, at most 15 bytes (what comm becomes) */
    const char *fname = BPF_CORE_READ(bprm, filename);
    bpf_probe_read_kernel_str(s->path[1], DEFEND_PATH_MAX, fname);
    struct slash_ctx sc = { .last = 0, .len = 0 };
    DEFEND_LOOP(DEFEND_PATH_MAX / 8, slash_step, &sc);
    __builtin_memset(s->name, 0, sizeof(s->name));
    bpf_probe_read_kernel_str(s->name, 16, &s->path[1][sc.last & (DEFEND_PATH_MAX - 1)]);

    struct file *exe = BPF_CORE_READ(bprm, file);
    resolve_file(s, 0, exe);
    struct verdict v = {};
    decide_process(&v, s, DEFEND_OP_EXEC, cur, 1, exe, 0);
    if (!(v.actions & DEFEND_ACTION_BLOCK))
        return 0;
    return send_denied_exec(s, &v, DEFEND_HOOK_LSM_BPRM_CHECK, cur, BPF_CORE_READ(bprm, argc), s->name);
}

/*
 * An executable mapping of a file judged as an exec of it (judge_file_as_exec): `ld.so FILE` maps
 * the program without execve (an executable FILE is refused at ld.so's read already; one without an
 * execute bit is refused here). The program a task runs was judged by bprm_check (its own mapping is
 * skipped).
 */
#define PROT_EXEC 0x4
SEC("lsm/mmap_file")
int BPF_PROG(defend_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags, int ret)
{
    if (ret)
        return ret;
    if (!file || !(prot & PROT_EXEC))
        return 0;
    return judge_file_as_exec(file, DEFEND_HOOK_LSM_MMAP_FILE, 0);
}

SEC("lsm/task_alloc")
int BPF_PROG(defend_task_alloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
    if (ret)
        return ret;
    if (clone_flags & CLONE_THREAD)
        return 0;
    struct verdict probe = {};
    __u64 m;
    if (!policy_start(&probe, DEFEND_SECTION_PROCESS, DEFEND_OP_FORK, bpf_get_current_cgroup_id(), &m))
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct verdict v = {};
    load_comm(s, cur);
    decide_process(&v, s, DEFEND_OP_FORK, cur, 0, BPF_CORE_READ(cur, mm, exe_file), 0);
    if (!(v.actions & DEFEND_ACTION_BLOCK))
        return 0;
    struct defend_fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(DEFEND_EV_FORK);
        return -EPERM;
    }
    fill_header(&e->h, DEFEND_EV_FORK, DEFEND_HOOK_LSM_TASK_ALLOC, &v, DEFEND_OP_FORK);
    e->h.flags |= DEFEND_F_DENIED;
    fill_task(&e->task, cur);
    submit(e, urgent(e->h.actions));
    return -EPERM;
}
