/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by sensor.bpf.c (tracepoints) and lsm.bpf.c (BPF-LSM): maps, task snapshot, path
 * resolution by walking dentries and mounts, and the policy evaluation of
 * Sources/DefendPolicy/KernelTables.swift. The LSM object re-uses the sensor object's maps
 * (userspace passes their fds with bpf_map__reuse_fd), so both halves share one ring buffer,
 * one loss counter array and one policy.
 */
#ifndef DEFEND_COMMON_H
#define DEFEND_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "defend_abi.h"
#include "defend_loop.h"

#define EPERM 1
#define S_IFMT 00170000
#define S_IFREG 0100000
#define S_IXUGO 00111
#define SIGNAL_GROUP_EXIT 0x00000004
#define CLONE_THREAD 0x00010000
#define O_TRUNC 00001000
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000

#define WALK_SIZE (DEFEND_PATH_MAX * 2)
#define PATH_CUT 1        /* scratch.path_state: longer than PATH_MAX, the slot holds the first bytes */
#define PATH_UNRESOLVED 2 /* not resolvable from the namespace root (DEFEND_F_PATH_UNRESOLVED) */
#define PATH_NO_PARENT 0xfffffffeu
#define WALK_END (DEFEND_PATH_MAX - 1) /* index of the NUL that ends an assembled path */

char LICENSE[] SEC("license") = "GPL";

/* ------------------------------------------------------------------ maps */

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20); /* userspace sets the configured size before load */
} events SEC(".maps");

/* bpf_ringbuf_reserve failures by enum defend_event_type. Per-CPU, so a plain increment suffices: clang
 * 20+ emits __sync_fetch_and_add as atomic_fetch_add (BPF_FETCH, Linux 5.12+), which 5.10 refuses. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, DEFEND_EV_TYPE_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} losses SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, DEFEND_GENERATIONS);
    __type(key, __u32);
    __type(value, struct defend_policy);
} policy SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct defend_policy_state);
} policy_state SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, DEFEND_POLICY_PATHS_MAX);
    __type(key, struct defend_path_key);
    __type(value, struct defend_path_value);
} policy_paths SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct defend_container);
} containers SEC(".maps");

/* Per-CPU build buffer of records sent with their used size (exec and file records). */
union defend_record {
    struct defend_exec_event exec;
    struct defend_file_event file;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, union defend_record);
} record_buf SEC(".maps");

static __always_inline union defend_record *get_record(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&record_buf, &zero);
}

/* Per-CPU work area: paths are far larger than the 512-byte stack. */
struct scratch {
    char walk[WALK_SIZE];            /* ring the path is assembled in (backwards), see walk_step */
    char path[2][DEFEND_PATH_MAX];   /* resolved paths, NUL-terminated */
    __u32 path_len[2];
    __u32 path_state[2];             /* PATH_CUT, PATH_UNRESOLVED */
    __u32 last_slash[2];             /* index of the '/' before the last component, or PATH_NO_PARENT */
    char name[16];                   /* process name for NAME lookups, zero padded */
    __u64 arg_mnt;                   /* defend_resolve's arguments (global functions take scalars) */
    __u64 arg_dentry;
    __u64 trunc_task;                /* the last O_TRUNC open file_open decided on this CPU (lsm.bpf.c, */
    __u64 trunc_path;                /* mark_truncating_open): its task (pid_tgid), &file->f_path, */
    __u64 trunc_dentry;              /* dentry, and generation << 32 | operation */
    __u64 trunc_gen_op;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch_map SEC(".maps");

/* Re-establish "0 or 1" for the verifier: the 6.1 verifier forgets bounds of values that went
 * through the stack (the key of a lookup), and the compiler drops a plain redundant `& 1`. */
static __always_inline __u64 bit01(__u64 x)
{
    asm volatile("%0 &= 1" : "+r"(x));
    return x;
}

static __always_inline struct scratch *get_scratch(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline void count_loss(__u32 type)
{
    __u64 *n = bpf_map_lookup_elem(&losses, &type);
    if (n)
        *n += 1;
}

/*
 * Wake the reader only for alerts and denials, or once a batch is pending: a wakeup per record
 * (irq_work plus a reader context switch) costs more than producing the record. The reader
 * also drains the buffer whenever its poll times out, so telemetry waits at most that long.
 */
#define DEFEND_WAKEUP_BYTES (64 * 1024)

static __always_inline void submit(void *e, int urgent)
{
    __u64 flags = BPF_RB_NO_WAKEUP;
    if (urgent || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= DEFEND_WAKEUP_BYTES)
        flags = BPF_RB_FORCE_WAKEUP;
    bpf_ringbuf_submit(e, flags);
}

/* Send the first `size` bytes of a record built in record_buf; counts a loss of `type` on failure. */
static __always_inline void send_record(void *rec, __u64 size, int urgent, __u32 type)
{
    __u64 flags = BPF_RB_NO_WAKEUP;
    if (urgent || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= DEFEND_WAKEUP_BYTES)
        flags = BPF_RB_FORCE_WAKEUP;
    if (size > sizeof(union defend_record))
        size = sizeof(union defend_record);
    asm volatile("" : "+r"(size));
    if (size < 8)
        size = 8;
    if (bpf_ringbuf_output(&events, rec, size, flags))
        count_loss(type);
}

static __always_inline int urgent(__u32 actions)
{
    return (actions & (DEFEND_ACTION_ALERT | DEFEND_ACTION_BLOCK)) != 0;
}

/* ------------------------------------------------------------------ task snapshot */

static __always_inline __u64 boot_start(struct task_struct *t)
{
    if (bpf_core_field_exists(t->start_boottime))
        return BPF_CORE_READ(t, start_boottime);
    return 0;
}

/* tgid of `task` as seen in its own (innermost) pid namespace, and that namespace's inode. */
static __always_inline void ns_identity(struct task_struct *task, struct defend_task *out)
{
    struct task_struct *leader = BPF_CORE_READ(task, group_leader);
    struct pid *pid = BPF_CORE_READ(leader, thread_pid);
    if (!pid)
        return;
    unsigned int level = BPF_CORE_READ(pid, level);
    struct upid *up = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
                      (level & 31) * bpf_core_type_size(struct upid);
    out->ns_pid = BPF_CORE_READ(up, nr);
    out->pid_ns_ino = BPF_CORE_READ(up, ns, ns.inum);
}

static __always_inline __u32 signal_pid_nr(struct signal_struct *sig, int type)
{
    struct pid *p = NULL;
    bpf_probe_read_kernel(&p, sizeof(p), &sig->pids[type]);
    if (!p)
        return 0;
    return BPF_CORE_READ(p, numbers[0].nr);
}

static __always_inline __u64 read_cap(const kernel_cap_t *cap)
{
    /* kernel_cap_t is u32[2] up to 6.2 and one u64 after: the same 8 little-endian bytes. */
    __u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), cap);
    return v;
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
    return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void fill_task(struct defend_task *t, struct task_struct *task)
{
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    struct signal_struct *sig = BPF_CORE_READ(task, signal);
    const struct cred *cred = BPF_CORE_READ(task, cred);

    t->pid = BPF_CORE_READ(task, tgid);
    t->tid = BPF_CORE_READ(task, pid);
    t->ppid = BPF_CORE_READ(parent, tgid);
    t->pgid = signal_pid_nr(sig, PIDTYPE_PGID);
    t->sid = signal_pid_nr(sig, PIDTYPE_SID);
    t->uid = BPF_CORE_READ(cred, uid.val);
    t->euid = BPF_CORE_READ(cred, euid.val);
    t->gid = BPF_CORE_READ(cred, gid.val);
    t->egid = BPF_CORE_READ(cred, egid.val);
    t->cap_effective = read_cap(__builtin_preserve_access_index(&cred->cap_effective));
    t->cap_permitted = read_cap(__builtin_preserve_access_index(&cred->cap_permitted));
    struct tty_struct *tty = BPF_CORE_READ(sig, tty);
    if (tty) {
        t->tty_major = BPF_CORE_READ(tty, driver, major);
        t->tty_minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
    } else {
        t->tty_major = 0;
        t->tty_minor = 0;
    }
    t->start_ns = boot_start(BPF_CORE_READ(task, group_leader));
    t->parent_start_ns = boot_start(BPF_CORE_READ(parent, group_leader));
    t->cgroup_id = task_cgroup_id(task);
    t->pid_ns_ino = 0;
    t->ns_pid = 0;
    ns_identity(task, t);
    bpf_probe_read_kernel_str(t->comm, sizeof(t->comm), __builtin_preserve_access_index(&task->comm));
}

/* Same rule as TaskInfo.hasInteractiveTTY: pts (136-143) or a virtual console (4). */
static __always_inline int task_interactive(struct task_struct *task)
{
    struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
    if (!tty)
        return 0;
    int major = BPF_CORE_READ(tty, driver, major);
    return (major >= 136 && major <= 143) || major == 4;
}

/* ------------------------------------------------------------------ path resolution */

static __always_inline struct mount *real_mount(struct vfsmount *m)
{
    return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

struct walk_ctx {
    __u64 dentry;
    __u64 vfsmnt;
    __u64 mnt_root;   /* vfsmnt's mnt_root (constant for a mount's life: read once per mount) */
    __u64 ns_root;    /* struct mount * of the current mount namespace's root */
    __u32 pos;        /* virtual position of the assembled path's first byte (see WALK_V0) */
    __u32 done;       /* 1: reached the namespace root; 2: unresolvable (disconnected, foreign) */
    __u32 last_slash; /* virtual position of the '/' before the last component, 0 = none yet */
    __u32 pad;
};

/* The walk writes names backwards into a ring of DEFEND_PATH_MAX bytes (scratch.walk, index =
 * virtual position & (DEFEND_PATH_MAX - 1)); the virtual position starts high enough never to wrap
 * below zero within DEFEND_WALK_STEPS names. A path longer than the ring keeps its first bytes. */
#define WALK_V0 (WALK_END + DEFEND_PATH_MAX * 1024u)

/*
 * One step up: a path component, or a crossing from a mount's root to its mountpoint. The walk
 * ends at the root of the current mount namespace, never at the task's root: inside a chroot (or
 * through /proc/PID/root) a file has the same path as from outside, so `chroot /usr/local` cannot
 * make /usr/local/bin/x look like /bin/x. A top that is not that root (a lazily unmounted or
 * open_tree()-detached mount, another namespace's mount, an internal mount, a dentry that is not
 * connected to its mount's root) is unresolvable: such a path is not absolute and must not be
 * matched as if it were.
 * A path longer than PATH_MAX is still walked to the root: the ring then holds its first
 * DEFEND_PATH_MAX bytes, which are all that policy strings (< DEFEND_PATTERN_MAX) can match.
 */
/* A dentry's d_parent and d_name (struct qstr: hash, len, name), adjacent in every kernel from 5.10
 * to 6.12: one read per step instead of three (checked at load through CO-RE offsets; else three). */
struct dentry_up {
    __u64 parent;
    __u32 hash;
    __u32 len;
    __u64 name;
};

static __always_inline void read_dentry_up(struct dentry *d, struct dentry_up *u)
{
    if (bpf_core_field_offset(struct dentry, d_name) == bpf_core_field_offset(struct dentry, d_parent) + 8 &&
        bpf_core_field_offset(struct qstr, len) == 4 && bpf_core_field_offset(struct qstr, name) == 8) {
        bpf_probe_read_kernel(u, sizeof(*u), (void *)d + bpf_core_field_offset(struct dentry, d_parent));
    } else {
        u->parent = (__u64)BPF_CORE_READ(d, d_parent);
        u->len = BPF_CORE_READ(d, d_name.len);
        u->name = (__u64)BPF_CORE_READ(d, d_name.name);
    }
}

/* A mount's mnt_parent and mnt_mountpoint, adjacent likewise. */
static __always_inline void read_mount_up(struct mount *m, __u64 up[2])
{
    if (bpf_core_field_offset(struct mount, mnt_mountpoint) == bpf_core_field_offset(struct mount, mnt_parent) + 8) {
        bpf_probe_read_kernel(up, 16, (void *)m + bpf_core_field_offset(struct mount, mnt_parent));
    } else {
        up[0] = (__u64)BPF_CORE_READ(m, mnt_parent);
        up[1] = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
    }
}

static long walk_step(__u32 i, void *arg)
{
    struct walk_ctx *c = arg;
    struct dentry *d = (struct dentry *)c->dentry;

    if (c->dentry == c->mnt_root) {
        struct mount *m = real_mount((struct vfsmount *)c->vfsmnt);
        __u64 mup[2] = {};
        read_mount_up(m, mup);
        struct mount *parent = (struct mount *)mup[0];
        if (parent == m) { /* top of a mount tree */
            c->done = (__u64)m == c->ns_root ? 1 : 2;
            return 1;
        }
        struct vfsmount *pvm = (struct vfsmount *)((void *)parent + bpf_core_field_offset(struct mount, mnt));
        c->dentry = mup[1];
        c->vfsmnt = (__u64)pvm;
        c->mnt_root = (__u64)BPF_CORE_READ(pvm, mnt_root);
        return 0;
    }
    struct dentry_up du = {};
    read_dentry_up(d, &du);
    struct dentry *up = (struct dentry *)du.parent;
    __u32 len = du.len;
    const unsigned char *name = (const unsigned char *)du.name;
    if (up == d || !up) {
        /* a root dentry that is not its mount's root: disconnected, or a pseudo file (memfd:NAME,
         * an anonymous inode) whose own name is kept for the record; never resolved */
        c->done = 2;
        if (len == 1 || len == 0)
            return 1; /* "/" of a filesystem reached outside its mount */
    }
    if (len > 255 || len + 1 > c->pos)
        return 1; /* no such name, or beyond any real path: leave it unresolved */
    struct scratch *s = get_scratch();
    if (!s)
        return 1;
    __u32 v = c->pos - len;
    __u32 q = v & (DEFEND_PATH_MAX - 1);
    if (q + len <= DEFEND_PATH_MAX) {
        __u32 n = len;
        asm volatile("%0 &= 255" : "+r"(n)); /* kept for the verifier */
        bpf_probe_read_kernel(&s->walk[q], n, name);
    } else { /* the name wraps around the end of the ring */
        __u32 first = DEFEND_PATH_MAX - q;
        asm volatile("%0 &= 255" : "+r"(first));
        __u32 rest = len - first;
        asm volatile("%0 &= 255" : "+r"(rest));
        bpf_probe_read_kernel(&s->walk[q], first, name);
        bpf_probe_read_kernel(&s->walk[0], rest, name + first);
    }
    v -= 1;
    s->walk[v & (DEFEND_PATH_MAX - 1)] = '/';
    if (!c->last_slash)
        c->last_slash = v;
    c->pos = v;
    c->dentry = (__u64)up;
    return c->done ? 1 : 0;
}
DEFEND_LOOP_STEP(walk_step, struct walk_ctx)


/*
 * Resolve (mnt, dentry) into scratch.path[slot], from the root of the current mount namespace,
 * crossing mounts. Returns the length; scratch.path_state[slot] has PATH_CUT when the path is longer
 * than PATH_MAX (the slot holds its first bytes) and PATH_UNRESOLVED when it could not be resolved
 * (see DEFEND_F_PATH_UNRESOLVED): the slot then holds the resolved part without its leading '/', so
 * that it can never pass for an absolute path.
 */
__attribute__((noinline)) __u32 defend_resolve(__u32 slot)
{
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct vfsmount *first_mnt = (struct vfsmount *)s->arg_mnt;
    struct walk_ctx c = {
        .dentry = s->arg_dentry,
        .vfsmnt = s->arg_mnt,
        .mnt_root = (__u64)BPF_CORE_READ(first_mnt, mnt_root),
        .ns_root = (__u64)BPF_CORE_READ(cur, nsproxy, mnt_ns, root),
        .pos = WALK_V0,
        .done = 0,
        .last_slash = 0,
    };
    s->walk[WALK_END] = 0;
    DEFEND_LOOP(DEFEND_WALK_STEPS, walk_step, &c);
    /* walk_step may have looked the scratch up again: same per-CPU value, so `s` stays valid. */
    slot &= 1;
    __u32 total = WALK_V0 - c.pos; /* bytes written */
    __u32 state = (c.done != 1 ? PATH_UNRESOLVED : 0) | (total > WALK_END ? PATH_CUT : 0);
    s->path_state[slot] = state;
    __u32 pos = c.pos & (DEFEND_PATH_MAX - 1);
    __u32 len;
    if (state & PATH_CUT) {
        /* Make the ring contiguous from pos: mirror its start behind its end, then take PATH_MAX - 1 */
        if (pos > 1)
            bpf_probe_read_kernel(&s->walk[DEFEND_PATH_MAX], (pos - 1) & (DEFEND_PATH_MAX - 1), &s->walk[0]);
        len = WALK_END;
        s->last_slash[slot] = PATH_NO_PARENT;
    } else {
        len = WALK_END - pos;
        s->last_slash[slot] = c.last_slash >= c.pos ? c.last_slash - c.pos : PATH_NO_PARENT;
    }
    if ((state & PATH_UNRESOLVED) && len > 0) { /* drop the leading '/' of an unresolved part */
        pos++;
        len--;
        s->last_slash[slot] = PATH_NO_PARENT;
    }
    if (len == 0) {
        if (!state) {
            s->path[slot][0] = '/';
            s->path[slot][1] = 0;
            s->path_len[slot] = 1;
            return 1;
        }
        s->path[slot][0] = 0;
        s->path_len[slot] = 0;
        return 0;
    }
    asm volatile("%0 &= 4095" : "+r"(len)); /* DEFEND_PATH_MAX - 1, kept by the verifier */
    bpf_probe_read_kernel(s->path[slot], len, &s->walk[pos & (DEFEND_PATH_MAX - 1)]);
    s->path[slot][len] = 0;
    s->path_len[slot] = len;
    return len;
}

/* A global function: verified once per program, however many names a hook resolves. */
static __always_inline __u32 resolve_path(struct scratch *s, int slot, struct vfsmount *mnt, struct dentry *dentry)
{
    s->arg_mnt = (__u64)mnt;
    s->arg_dentry = (__u64)dentry;
    return defend_resolve(slot & 1);
}

/* Record flags for scratch.path[slot]. */
static __always_inline __u32 path_flags(struct scratch *s, int slot, __u32 truncated, __u32 unresolved)
{
    __u32 st = s->path_state[slot & 1];
    return ((st & PATH_CUT) ? truncated : 0) | ((st & PATH_UNRESOLVED) ? unresolved : 0);
}

/* Copy scratch.path[slot] and its NUL into a record (only the bytes used, not the whole field). */
static __always_inline void copy_path(char *dst, __u32 *dst_len, struct scratch *s, int slot)
{
    __u32 len = s->path_len[slot & 1] & (DEFEND_PATH_MAX - 1);
    *dst_len = len;
    bpf_probe_read_kernel(dst, len + 1, s->path[slot & 1]); /* len <= 4095: at most the field's 4096 */
}

/* Copy scratch.path[slot] and its NUL into data[off] of a packed area of at least off_max + PATH_MAX
 * bytes (off is clamped to off_max); returns the offset just after the NUL. */
static __always_inline __u32 pack_path(char *data, __u32 off, __u32 off_max, __u32 *dst_len, struct scratch *s, int slot)
{
    __u32 len = s->path_len[slot & 1] & (DEFEND_PATH_MAX - 1);
    if (off > off_max)
        off = off_max;
    asm volatile("" : "+r"(off));
    *dst_len = len;
    bpf_probe_read_kernel(data + off, len + 1, s->path[slot & 1]);
    return off + len + 1;
}

static __always_inline __u32 resolve_file(struct scratch *s, int slot, struct file *f)
{
    return resolve_path(s, slot, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry));
}

/* ------------------------------------------------------------------ policy */

/*
 * Hash-map lookup of one policy_paths entry, verifying the stored string against
 * scratch.path[slot] (slot 0/1) or scratch.name (slot 2). A global (non-inlined) function:
 * the verifier checks it once instead of at every call site, which keeps programs small.
 */
__attribute__((noinline)) __u64 defend_lookup(__u64 hash, __u32 gen, __u32 len, __u32 section_kind, __u32 slot)
{
    __u32 g = gen & 1;
    struct defend_policy *p = bpf_map_lookup_elem(&policy, &g);
    if (p) { /* no key with this bit: skip the hash lookup (an array lookup and a bit test instead) */
        __u32 bit = DEFEND_PATH_FILTER_BIT(hash, len, section_kind);
        if (!(p->path_filter[(bit >> 6) & (DEFEND_PATH_FILTER_BITS / 64 - 1)] & (1ULL << (bit & 63))))
            return 0;
    }
    struct defend_path_key k = {
        .hash = hash, .generation = gen, .len = len, .section = section_kind >> 8, .kind = section_kind & 0xff,
    };
    struct defend_path_value *v = bpf_map_lookup_elem(&policy_paths, &k);
    if (!v)
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    if (slot == 2) {
        if (len > 15)
            return 0;
        __u64 x0 = *(__u64 *)&s->name[0], x1 = *(__u64 *)&s->name[8];
        return (x0 == *(__u64 *)&v->str[0] && x1 == *(__u64 *)&v->str[8]) ? v->mask : 0;
    }
    const char *a = slot ? s->path[1] : s->path[0];
    /* compare 8 bytes at a time; the stored string is zero padded past its length */
    if (len >= DEFEND_PATTERN_MAX)
        return 0;
    for (int w = 0; w < DEFEND_PATTERN_MAX / 8; w++) {
        __u32 off = w * 8;
        if (off >= len)
            break;
        __u64 x = *(__u64 *)(a + off);
        __u64 y = *(__u64 *)(v->str + off);
        __u32 rest = len - off;
        if (rest < 8)
            x &= (1ULL << (rest * 8)) - 1;
        if (x != y)
            return 0;
    }
    return v->mask;
}

static __always_inline __u64 lookup_path(__u64 hash, __u32 gen, __u32 len, __u32 section, __u32 kind, __u32 slot)
{
    return defend_lookup(hash, gen, len, (section << 8) | kind, slot);
}

struct match_ctx {
    __u64 hash;        /* FNV-1a of path[0..i) */
    __u64 parent_hash; /* ... of the parent directory */
    __u64 mask;
    __u32 len;         /* bytes hashed: the path's first DEFEND_PATTERN_MAX at most */
    __u32 full_len;
    __u32 last_slash;  /* index of the parent's end (the '/' before the last component) */
    __u32 has_parent;
    __u32 gen;
    __u32 section;
    __u32 slot;
};

#define MATCH_STRIDE 8

/* Hash MATCH_STRIDE bytes per call (one callback and one scratch lookup per stride, not per byte);
 * at each '/' the prefix before it is an ancestor directory (DESCENDANT). */
static long match_step(__u32 i, void *arg)
{
    struct match_ctx *c = arg;
    __u32 base = i * MATCH_STRIDE;
    if (base >= c->len)
        return 1;
    struct scratch *s = get_scratch();
    if (!s)
        return 1;
    const char *path = s->path[c->slot & 1];
#pragma unroll
    for (__u32 j = 0; j < MATCH_STRIDE; j++) {
        __u32 k = base + j;
        if (k >= c->len)
            return 1;
        unsigned char ch = path[k & (DEFEND_PATH_MAX - 1)];
        if (ch == '/' && k + 1 < c->full_len) {
            c->mask |= lookup_path(c->hash, c->gen, k, c->section, DEFEND_PATH_DESCENDANT, c->slot & 1);
            if (k == c->last_slash) {
                c->parent_hash = c->hash;
                c->has_parent = 1;
            }
        }
        c->hash = (c->hash ^ ch) * DEFEND_FNV_PRIME;
    }
    return 0;
}
DEFEND_LOOP_STEP(match_step, struct match_ctx)


/*
 * Selectors of `section` whose path condition accepts scratch.path[slot], a resolved absolute path
 * (the caller handles unresolved ones). Policy strings are shorter than DEFEND_PATTERN_MAX, so only
 * the path's first DEFEND_PATTERN_MAX bytes can decide: an ancestor or parent directory ends within
 * them, and a longer path equals no string. The scan costs the same for a path of 4095 bytes.
 */
__attribute__((noinline)) __u64 defend_path_mask(__u32 slot, __u32 gen, __u32 section, __u32 tree)
{
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    __u32 len = s->path_len[slot & 1];
    struct match_ctx c = {
        .hash = DEFEND_FNV_OFFSET, .parent_hash = DEFEND_FNV_OFFSET, .mask = 0,
        .len = len < DEFEND_PATTERN_MAX ? len : DEFEND_PATTERN_MAX, .full_len = len,
        .last_slash = s->last_slash[slot & 1], .has_parent = 0, .gen = gen, .section = section,
        .slot = slot & 1,
    };
    if (len == 0 || len >= DEFEND_PATH_MAX)
        return 0;
    if (s->path_state[slot & 1] & PATH_CUT)
        c.full_len = DEFEND_PATH_MAX; /* longer than the slot: every scanned '/' ends an ancestor */
    if (len == 1) /* "/": no parent */
        c.last_slash = PATH_NO_PARENT;
    DEFEND_LOOP(DEFEND_PATTERN_MAX / MATCH_STRIDE, match_step, &c);
    __u64 m = c.mask;
    /* a cut path continues below its last byte: the whole string is an ancestor too */
    if ((s->path_state[slot & 1] & PATH_CUT) && len < DEFEND_PATTERN_MAX)
        m |= lookup_path(c.hash, gen, len, section, DEFEND_PATH_DESCENDANT, slot & 1);
    if (c.has_parent)
        m |= lookup_path(c.parent_hash, gen, c.last_slash, section, DEFEND_PATH_CHILD, slot & 1);
    if (len < DEFEND_PATTERN_MAX && !(s->path_state[slot & 1] & PATH_CUT)) {
        m |= lookup_path(c.hash, gen, len, section, DEFEND_PATH_EXACT, slot & 1);
        if (tree) /* a directory that moves: protected trees at or below it */
            m |= lookup_path(c.hash, gen, len, section, DEFEND_PATH_ANCESTOR, slot & 1);
    }
    return m;
}

static __always_inline __u64 path_mask(struct scratch *s, int slot, __u32 gen, __u32 section, __u32 tree)
{
    return defend_path_mask(slot & 1, gen, section, tree);
}

/* NAME entry for scratch.name (a comm, at most 15 bytes). */
__attribute__((noinline)) __u64 defend_name_mask(__u32 gen)
{
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    __u64 h = DEFEND_FNV_OFFSET;
    __u32 len = 0;
    for (int i = 0; i < 15; i++) {
        unsigned char ch = s->name[i];
        if (!ch)
            break;
        h = (h ^ ch) * DEFEND_FNV_PRIME;
        len++;
    }
    if (!len)
        return 0;
    return defend_lookup(h, gen, len, (DEFEND_SECTION_PROCESS << 8) | DEFEND_PATH_NAME, 2);
}

struct verdict {
    __u32 gen;
    __u32 actions;
    __u64 selectors;
    __u32 flags; /* DEFEND_F_IN_CONTAINER */
    __u32 telemetry;
};

/* The policy in force and its generation (the generation index is 0 or 1). */
static __always_inline struct defend_policy *active_policy(__u32 *gen)
{
    __u32 zero = 0;
    struct defend_policy_state *st = bpf_map_lookup_elem(&policy_state, &zero);
    *gen = st ? (st->active & 1) : 0;
    return bpf_map_lookup_elem(&policy, gen);
}

/*
 * For records that are telemetry only (exit, setsid): a verdict without actions, or 0 when process
 * telemetry is off and nothing is to be sent.
 */
static __always_inline int telemetry_verdict(struct verdict *v, struct task_struct *task)
{
    __u32 gen;
    struct defend_policy *p = active_policy(&gen);
    if (!p || !(p->flags & DEFEND_PF_PROCESS_TELEMETRY))
        return 0;
    v->gen = gen;
    __u64 cgid = task_cgroup_id(task);
    if (bpf_map_lookup_elem(&containers, &cgid))
        v->flags |= DEFEND_F_IN_CONTAINER;
    return 1;
}

/*
 * First stage, shared by every hook, on the policy in force `p` of generation `gen` (active_policy):
 * telemetry flag and the task's container mask for `section`. Returns the policy (NULL when nothing
 * can match) and the mask of the selectors whose container conditions the task meets.
 */
static __always_inline struct defend_policy *policy_scope(struct verdict *v, struct defend_policy *p, __u32 gen,
                                                          __u32 section, __u64 cgid, __u64 *cmask_out)
{
    v->gen = gen;
    *cmask_out = 0;
    if (!p)
        return NULL;
    v->telemetry = (p->flags & DEFEND_PF_PROCESS_TELEMETRY) != 0;
    struct defend_container *c = bpf_map_lookup_elem(&containers, &cgid);
    if (c) {
        v->flags |= DEFEND_F_IN_CONTAINER;
        *cmask_out = c->mask[bit01(gen)][bit01(section)];
    } else {
        *cmask_out = p->host_mask[bit01(section)];
    }
    if (!(p->flags & DEFEND_PF_LOADED))
        return NULL;
    return p;
}

/* policy_scope on the policy in force, narrowed to the selectors that take `op`. */
static __always_inline struct defend_policy *policy_start(struct verdict *v, __u32 section, __u32 op, __u64 cgid, __u64 *m)
{
    __u32 gen;
    __u64 cmask;
    struct defend_policy *p = policy_scope(v, active_policy(&gen), gen, section, cgid, &cmask);
    *m = 0;
    if (!p || op >= DEFEND_OP_COUNT)
        return NULL;
    *m = p->op_mask[op] & cmask;
    return *m ? p : NULL;
}

struct fire_ctx {
    __u64 m;
    __u64 known; /* selectors known to match: only these can exclude */
    __u64 sel;
    __u32 actions;
    __u32 gen;
    __u32 section;
    __u32 count;
};

static long fire_step(__u32 i, void *arg)
{
    struct fire_ctx *c = arg;
    if (i >= c->count || i >= DEFEND_MAX_RULES)
        return 1;
    __u32 gen = c->gen & 1;
    struct defend_policy *p = bpf_map_lookup_elem(&policy, &gen);
    if (!p)
        return 1;
    struct defend_response *r = &p->responses[bit01(c->section)][i & (DEFEND_MAX_RULES - 1)];
    if ((c->m & r->match) && !(c->known & r->exclude)) {
        c->actions |= r->actions;
        c->sel |= r->match;
    }
    return 0;
}
DEFEND_LOOP_STEP(fire_step, struct fire_ctx)


/*
 * Last stage: fire responses on the final selector mask `m`, of which the selectors in `unknown`
 * only may match (their path condition met an unresolved path). A response fires when it matches
 * any selector of `m` and excludes none known to match: the unresolved path is given every chance
 * to fall under a rule. So a block that could apply refuses (fail closed, with an alert), and what
 * is reported carries DEFEND_F_PATH_UNRESOLVED.
 */
static __always_inline void policy_fire(struct verdict *v, struct defend_policy *p, __u32 section, __u64 m, __u64 unknown)
{
    struct fire_ctx c = {
        .m = m, .known = m & ~unknown, .sel = 0, .actions = 0, .gen = v->gen, .section = section,
        .count = p->response_count[section & 1],
    };
    DEFEND_LOOP(DEFEND_MAX_RULES, fire_step, &c);
    v->actions = c.actions;
    v->selectors = m & c.sel;
    if (unknown && (c.actions & DEFEND_ACTION_BLOCK))
        v->actions |= DEFEND_ACTION_ALERT;
}

/*
 * Path condition of `section` for scratch.path[slot]: narrows *m to the selectors whose path
 * condition accepts it, or, when the path is unresolved, keeps them all and returns them as
 * "unknown" for policy_fire. Costs nothing when no selector of *m has a path condition.
 */
static __always_inline __u64 path_condition(struct scratch *s, int slot, struct defend_policy *p, __u32 gen,
                                            __u32 section, __u64 *m, __u32 tree)
{
    __u64 any = p->path_any_mask[section & 1];
    if (!(*m & ~any))
        return 0;
    if (s->path_state[slot & 1] & PATH_UNRESOLVED)
        return *m & ~any;
    *m &= any | path_mask(s, slot, gen, section, tree);
    return 0;
}

/* The superblock's mount list before Linux 6.16 (a list_head in mount order); from then on a
 * singly linked list with the newest mount first (mount.mnt_next_for_sb). */
struct super_block___listhead {
    struct list_head s_mounts;
} __attribute__((preserve_access_index));
struct mount___listhead {
    struct list_head mnt_instance;
} __attribute__((preserve_access_index));
struct super_block___chain {
    struct mount *s_mounts;
} __attribute__((preserve_access_index));
struct mount___chain {
    struct mount *mnt_next_for_sb;
} __attribute__((preserve_access_index));

#define ALIAS_SCAN 16

/*
 * The earliest mount of the superblock `sb_addr` in the task's mount namespace: the first one
 * mounted, whose names are the ones a rule about that tree means. 0 when the namespace has none
 * among the superblock's first ALIAS_SCAN mounts (all namespaces), or when the scan could not reach
 * the earliest one (from 6.16 the list is newest first). Takes a scalar: callers pass read values.
 */
__attribute__((noinline)) __u64 defend_earliest_mount(__u64 sb_addr)
{
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct mnt_namespace *ns = BPF_CORE_READ(cur, nsproxy, mnt_ns);
    __u32 moff = bpf_core_field_offset(struct mount, mnt);
    __u64 found = 0;
    if (!sb_addr)
        return 0;
    if (bpf_core_field_exists(struct mount___chain, mnt_next_for_sb)) {
        /* newest first: the earliest is the last one in this namespace */
        struct mount *m = BPF_CORE_READ((struct super_block___chain *)sb_addr, s_mounts);
        for (int i = 0; i < ALIAS_SCAN && m; i++) {
            if (BPF_CORE_READ(m, mnt_ns) == ns)
                found = (__u64)m + moff;
            m = BPF_CORE_READ((struct mount___chain *)m, mnt_next_for_sb);
        }
        if (m) /* more mounts than scanned: the earliest is unknown */
            return 0;
    } else {
        struct super_block___listhead *osb = (void *)sb_addr;
        __u64 head = sb_addr + bpf_core_field_offset(struct super_block___listhead, s_mounts);
        __u32 ioff = bpf_core_field_offset(struct mount___listhead, mnt_instance);
        struct list_head *pos = BPF_CORE_READ(osb, s_mounts.next);
        for (int i = 0; i < ALIAS_SCAN && pos && (__u64)pos != head; i++) {
            struct mount *m = (struct mount *)((void *)pos - ioff);
            if (BPF_CORE_READ(m, mnt_ns) == ns) {
                found = (__u64)m + moff;
                break;
            }
            pos = BPF_CORE_READ(pos, next);
        }
    }
    return found;
}

/*
 * The mount a name is judged from as well, when `mnt` is another mount of a filesystem that this
 * mount namespace already has: for the root's filesystem, the task's root mount; for any other
 * filesystem, its earliest mount in the namespace (defend_earliest_mount), so `mount --bind
 * /data/bin /mnt/b` cannot dodge a rule on /data/ (and below) either. 0 when `mnt` is that mount
 * itself or none is found. The caller keeps the first name when the file is not below the alias's root.
 */
/* static: verified with the caller's argument types (a global function takes scalars only, and
 * some hooks hold the mount as a typed BTF pointer) */
static __attribute__((noinline)) __u64 defend_alias_mount(struct vfsmount *mnt)
{
    struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
    struct vfsmount *root = BPF_CORE_READ(cur, fs, root.mnt);
    if (!mnt || mnt == root)
        return 0;
    struct super_block *sb = BPF_CORE_READ(mnt, mnt_sb);
    if (sb == BPF_CORE_READ(root, mnt_sb))
        return (__u64)root;
    __u64 found = defend_earliest_mount((__u64)sb);
    return found == (__u64)mnt ? 0 : found;
}

static __always_inline struct vfsmount *alias_mount(struct vfsmount *mnt)
{
    return (struct vfsmount *)defend_alias_mount(mnt);
}

/*
 * Resolve the name (mnt, dentry) into scratch.path[slot] and apply the path condition of `section`
 * to *m (see path_condition; returns the "unknown" selectors). A name reached through another
 * mount of a filesystem (a bind mount) is judged by both its names, so a bind mount cannot dodge a
 * rule; the slot (and the record) then holds the name from the alias mount (defend_alias_mount).
 */
static __always_inline __u64 judge_name(struct scratch *s, int slot, struct defend_policy *p, __u32 gen, __u32 section,
                                        __u64 *m, __u32 tree, struct vfsmount *mnt, struct dentry *dentry,
                                        int resolved)
{
    __u64 start = *m;
    if (!resolved)
        resolve_path(s, slot, mnt, dentry);
    __u64 unknown = path_condition(s, slot, p, gen, section, m, tree);
    if (!(start & ~p->path_any_mask[section & 1]))
        return unknown;
    struct vfsmount *root = alias_mount(mnt);
    if (!root)
        return unknown;
    resolve_path(s, slot, root, dentry);
    if (s->path_state[slot & 1] & PATH_UNRESOLVED) { /* no name from the alias mount: keep the first */
        resolve_path(s, slot, mnt, dentry);
        return unknown;
    }
    __u64 m2 = start;
    path_condition(s, slot, p, gen, section, &m2, tree);
    if (unknown) { /* the first name was unresolved: the alias mount's name decides */
        *m = m2;
        return 0;
    }
    *m |= m2;
    return 0;
}

/*
 * Process section (fork/exec) for `task`, whose executable is scratch.path[0] when
 * `have_path`; otherwise `exe` is resolved into it only if some selector needs it.
 * The name is scratch.name.
 */
static __always_inline void decide_process(struct verdict *v, struct scratch *s, __u32 op, struct task_struct *task,
                                           int have_path, struct file *exe, int path_only)
{
    __u64 m;
    struct defend_policy *p = policy_start(v, DEFEND_SECTION_PROCESS, op, task_cgroup_id(task), &m);
    if (!p)
        return;
    if (path_only) /* only selectors that name executables (mmap_file) */
        m &= ~p->path_any_mask[DEFEND_SECTION_PROCESS];
    m &= p->interactive_mask[task_interactive(task) ? 1 : 0];
    if (m & ~p->name_any_mask)
        m &= p->name_any_mask | defend_name_mask(v->gen);
    __u64 unknown = 0;
    if (m & ~p->path_any_mask[DEFEND_SECTION_PROCESS]) {
        if (!have_path && !exe) {
            m &= p->path_any_mask[DEFEND_SECTION_PROCESS]; /* no executable (kernel thread): no path */
        } else {
            unknown = judge_name(s, 0, p, v->gen, DEFEND_SECTION_PROCESS, &m, 0, BPF_CORE_READ(exe, f_path.mnt),
                                 BPF_CORE_READ(exe, f_path.dentry), have_path);
        }
    }
    if (path_only && unknown) /* a mapping of an unnamed file (memfd, JIT) is not an exec: no fail closed */
        m &= ~unknown, unknown = 0;
    if (m)
        policy_fire(v, p, DEFEND_SECTION_PROCESS, m, unknown);
}

static __always_inline void fill_header(struct defend_event_header *h, __u32 type, __u32 hook, struct verdict *v, __u32 op)
{
    h->type = type;
    h->hook = hook;
    h->ktime_ns = bpf_ktime_get_boot_ns();
    h->selectors = v->selectors;
    h->actions = v->actions;
    h->flags = v->flags;
    h->op = op;
    h->generation = v->gen;
}

static __always_inline void load_comm(struct scratch *s, struct task_struct *task)
{
    __builtin_memset(s->name, 0, sizeof(s->name));
    bpf_probe_read_kernel_str(s->name, sizeof(s->name), __builtin_preserve_access_index(&task->comm));
}

#endif /* DEFEND_COMMON_H */
