// SPDX-License-Identifier: GPL-2.0-only
/*
 * Defend BPF-LSM half: file operations (log/alert/block) and the process gates (block only;
 * the tracepoints in sensor.bpf.c report fork/exec). A separate object so the tracepoint half
 * still loads where BPF-LSM is not active. Userspace makes this object re-use the sensor
 * object's maps (events, losses, policy, policy_state, policy_paths, containers).
 */
#include "defend_common.h"

/* O_TRUNC opens already decided by file_open: the following path_truncate (6.1) is skipped. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);   /* pid_tgid */
    __type(value, __u64); /* inode number */
} trunc_seen SEC(".maps");

static __always_inline int is_regular(__u32 mode)
{
    return (mode & S_IFMT) == S_IFREG;
}

static __always_inline __u32 inode_mode(struct dentry *d)
{
    return BPF_CORE_READ(d, d_inode, i_mode);
}

struct file_op {
    __u32 hook;
    __u32 op;
    __u32 mode;
    __u32 flags;          /* DEFEND_F_WAS_EXECUTABLE */
    __u64 ino;
    struct vfsmount *mnt; /* target */
    struct dentry *dentry;
    struct vfsmount *old_mnt; /* rename/link source, or NULL */
    struct dentry *old_dentry;
    __u32 evaluated;          /* out: the operation was in the policy's scope and fully decided */
    __u32 truncate_dedup;     /* path_truncate: skip when the same O_TRUNC open was decided */
};

/* The O_TRUNC open of this inode by this task was decided already (and forget it). */
static __always_inline int truncate_already_decided(__u64 ino)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u64 *seen = bpf_map_lookup_elem(&trunc_seen, &id);
    if (!seen || *seen != ino)
        return 0;
    bpf_map_delete_elem(&trunc_seen, &id);
    return 1;
}

/* Decide, report and enforce one file operation. Returns the LSM verdict. */
static __always_inline int file_decide(struct file_op *f)
{
    struct verdict v = {};
    __u64 m;
    struct defend_policy *p = policy_start(&v, DEFEND_SECTION_FILE, f->op, bpf_get_current_cgroup_id(), &m);
    if (!p)
        return 0; /* the common case: nothing in scope (host with scope containers, read opens...) */
    /* Only operations in scope pay for the de-duplication lookup. */
    if (f->truncate_dedup && truncate_already_decided(f->ino))
        return 0;
    f->evaluated = 1;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;

    /* volume: the target is on a mount other than the task's root mount */
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct vfsmount *root_mnt = BPF_CORE_READ(cur, fs, root.mnt);
    __u32 vflags = 0;
    struct vfsmount *tmnt = f->mnt;
    if (tmnt != root_mnt) {
        vflags |= DEFEND_F_IN_VOLUME_MOUNT;
        struct dentry *mroot = BPF_CORE_READ(tmnt, mnt_root);
        if (is_regular(inode_mode(mroot)))
            vflags |= DEFEND_F_FILE_MOUNT;
    }
    if (vflags & DEFEND_F_FILE_MOUNT)
        m &= p->file_mount_ok_mask;
    else if (vflags & DEFEND_F_IN_VOLUME_MOUNT)
        m &= p->volume_ok_mask;
    if (!m)
        return 0;

    resolve_path(s, 0, f->mnt, f->dentry);
    __u64 unknown = path_condition(s, 0, p, v.gen, DEFEND_SECTION_FILE, &m);
    if (!m)
        return 0;
    policy_fire(&v, p, DEFEND_SECTION_FILE, m, unknown);
    if (!v.actions)
        return 0;

    int deny = (v.actions & DEFEND_ACTION_BLOCK) != 0;
    struct defend_file_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(DEFEND_EV_FILE);
        return deny ? -EPERM : 0;
    }
    fill_header(&e->h, DEFEND_EV_FILE, f->hook, &v, f->op);
    e->h.flags |= vflags | f->flags | (deny ? DEFEND_F_DENIED : 0);
    e->h.flags |= path_flags(s, 0, DEFEND_F_PATH_TRUNCATED, DEFEND_F_PATH_UNRESOLVED);
    fill_task(&e->task, cur);
    e->mode = f->mode;
    e->ino = f->ino;
    e->pad = 0;
    copy_path(e->path, &e->path_len, s, 0);
    e->old_path_len = 0;
    e->old_path[0] = 0;
    if (f->old_dentry) {
        resolve_path(s, 1, f->old_mnt, f->old_dentry);
        e->h.flags |= path_flags(s, 1, DEFEND_F_OLD_PATH_TRUNCATED, DEFEND_F_OLD_PATH_UNRESOLVED);
        copy_path(e->old_path, &e->old_path_len, s, 1);
    }
    submit(e, urgent(e->h.actions));
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
    if (!is_regular(md))
        return 0;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_MKNOD,
        .op = (md & S_IXUGO) ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE,
        .mode = md,
        .mnt = BPF_CORE_READ(dir, mnt),
        .dentry = dentry,
    };
    return file_decide(&f);
}

SEC("lsm/file_open")
int BPF_PROG(defend_file_open, struct file *file, int ret)
{
    if (ret)
        return ret;
    /* Every open passes here: read through the BTF-typed arguments directly (plain loads, CO-RE
     * relocated) instead of bpf_probe_read_kernel calls. */
    __u32 fmode = file->f_mode;
    __u32 fflags = file->f_flags;
    if (!(fmode & FMODE_WRITE) && !(fflags & O_TRUNC))
        return 0; /* reads are not events */
    if (fmode & FMODE_CREATED)
        return 0; /* reported by path_mknod */
    struct inode *inode = file->f_inode;
    __u32 md = inode->i_mode;
    if (!is_regular(md))
        return 0;
    int exe = (md & S_IXUGO) != 0;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_FILE_OPEN,
        .op = exe ? DEFEND_OP_MODIFY_EXECUTABLE : DEFEND_OP_MODIFY_FILE,
        .mode = md,
        .flags = exe ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = inode->i_ino,
        .mnt = file->f_path.mnt,
        .dentry = file->f_path.dentry,
    };
    int verdict = file_decide(&f);
    /* Up to 6.1 an O_TRUNC open continues into security_path_truncate (handle_truncate); since
     * 6.2 it goes to the file_truncate hook instead, so there is nothing to de-duplicate. An open
     * that was decided (in scope) is remembered so the truncate that follows neither reports it a
     * second time nor pays for a second decision; out-of-scope opens stay free of map writes. */
    if (f.evaluated && verdict == 0 && (fflags & O_TRUNC) && !bpf_core_field_exists(union security_list_options, file_truncate)) {
        __u64 id = bpf_get_current_pid_tgid();
        bpf_map_update_elem(&trunc_seen, &id, &f.ino, BPF_ANY);
    }
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
        .mnt = path->mnt,
        .dentry = d,
        .truncate_dedup = 1, /* the O_TRUNC open that led here may have been decided by file_open */
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
    if (!is_regular(old))
        return 0;
    __u32 md = (mode & 07777) | S_IFREG;
    __u32 op;
    if (old & S_IXUGO)
        op = DEFEND_OP_MODIFY_EXECUTABLE;
    else if (md & S_IXUGO)
        op = DEFEND_OP_CREATE_EXECUTABLE;
    else
        op = DEFEND_OP_MODIFY_FILE;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_CHMOD,
        .op = op,
        .mode = md,
        .flags = (old & S_IXUGO) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(inode, i_ino),
        .mnt = BPF_CORE_READ(path, mnt),
        .dentry = d,
    };
    return file_decide(&f);
}

SEC("lsm/path_rename")
int BPF_PROG(defend_path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
             struct dentry *new_dentry)
{
    struct inode *inode = BPF_CORE_READ(old_dentry, d_inode);
    __u32 md = BPF_CORE_READ(inode, i_mode);
    if (!is_regular(md))
        return 0;
    int exe = (md & S_IXUGO) != 0;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_RENAME,
        .op = exe ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE,
        .mode = md,
        .flags = exe ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(inode, i_ino),
        .mnt = BPF_CORE_READ(new_dir, mnt),
        .dentry = new_dentry,
        .old_mnt = BPF_CORE_READ(old_dir, mnt),
        .old_dentry = old_dentry,
    };
    return file_decide(&f);
}

SEC("lsm/path_link")
int BPF_PROG(defend_path_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, int ret)
{
    if (ret)
        return ret;
    struct inode *inode = BPF_CORE_READ(old_dentry, d_inode);
    __u32 md = BPF_CORE_READ(inode, i_mode);
    if (!is_regular(md))
        return 0;
    int exe = (md & S_IXUGO) != 0;
    struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt);
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_LINK,
        .op = exe ? DEFEND_OP_CREATE_EXECUTABLE : DEFEND_OP_CREATE_FILE,
        .mode = md,
        .flags = exe ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(inode, i_ino),
        .mnt = mnt,
        .dentry = new_dentry,
        .old_mnt = mnt, /* links never cross mounts */
        .old_dentry = old_dentry,
    };
    return file_decide(&f);
}

SEC("lsm/path_unlink")
int BPF_PROG(defend_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
    if (ret)
        return ret;
    struct inode *inode = BPF_CORE_READ(dentry, d_inode);
    __u32 md = BPF_CORE_READ(inode, i_mode);
    if (!is_regular(md))
        return 0;
    struct file_op f = {
        .hook = DEFEND_HOOK_LSM_PATH_UNLINK,
        .op = DEFEND_OP_DELETE_FILE,
        .mode = md,
        .flags = (md & S_IXUGO) ? DEFEND_F_WAS_EXECUTABLE : 0,
        .ino = BPF_CORE_READ(inode, i_ino),
        .mnt = BPF_CORE_READ(dir, mnt),
        .dentry = dentry,
    };
    return file_decide(&f);
}

/* ------------------------------------------------------------------ process gates (block only) */

struct slash_ctx {
    __u32 last; /* index after the last '/' */
    __u32 len;
};

static long slash_step(__u32 i, void *arg)
{
    struct slash_ctx *c = arg;
    struct scratch *s = get_scratch();
    if (!s)
        return 1;
    char ch = s->path[1][i & (DEFEND_PATH_MAX - 1)];
    if (!ch) {
        c->len = i;
        return 1;
    }
    if (ch == '/')
        c->last = i + 1;
    return 0;
}

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
    bpf_loop(DEFEND_PATH_MAX, slash_step, &sc, 0);
    __builtin_memset(s->name, 0, sizeof(s->name));
    bpf_probe_read_kernel_str(s->name, 16, &s->path[1][sc.last & (DEFEND_PATH_MAX - 1)]);

    struct file *exe = BPF_CORE_READ(bprm, file);
    resolve_file(s, 0, exe);
    struct verdict v = {};
    decide_process(&v, s, DEFEND_OP_EXEC, cur, 1, exe);
    if (!(v.actions & DEFEND_ACTION_BLOCK))
        return 0;
    struct defend_exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(DEFEND_EV_EXEC);
        return -EPERM;
    }
    fill_header(&e->h, DEFEND_EV_EXEC, DEFEND_HOOK_LSM_BPRM_CHECK, &v, DEFEND_OP_EXEC);
    e->h.flags |= DEFEND_F_DENIED | path_flags(s, 0, DEFEND_F_PATH_TRUNCATED, DEFEND_F_PATH_UNRESOLVED);
    fill_task(&e->task, cur);
    __builtin_memcpy(e->task.comm, s->name, sizeof(e->task.comm));
    copy_path(e->filename, &e->filename_len, s, 0);
    resolve_path(s, 1, BPF_CORE_READ(cur, fs, pwd.mnt), BPF_CORE_READ(cur, fs, pwd.dentry));
    e->h.flags |= path_flags(s, 1, DEFEND_F_CWD_TRUNCATED, DEFEND_F_CWD_UNRESOLVED);
    copy_path(e->cwd, &e->cwd_len, s, 1);
    e->argc = BPF_CORE_READ(bprm, argc);
    e->args_len = 0; /* the new argv lives in the not-yet-installed mm */
    submit(e, urgent(e->h.actions));
    return -EPERM;
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
    decide_process(&v, s, DEFEND_OP_FORK, cur, 0, BPF_CORE_READ(cur, mm, exe_file));
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
