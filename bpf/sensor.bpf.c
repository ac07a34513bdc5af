// SPDX-License-Identifier: GPL-2.0-only
/*
 * Defend process and cgroup sensor: tracepoints only, so it loads on kernels without BPF-LSM.
 * Decides log/alert for fork and exec (the LSM gates in lsm.bpf.c decide block) and sends
 * process lifecycle telemetry when the policy's DEFEND_PF_PROCESS_TELEMETRY flag is set.
 */
#include "defend_common.h"

static __always_inline int wanted(struct verdict *v)
{
    return v->telemetry || (v->actions & (DEFEND_ACTION_LOG | DEFEND_ACTION_ALERT));
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(defend_fork, struct task_struct *parent, struct task_struct *child)
{
    /* new processes only: a thread shares its group's tgid */
    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
        return 0;
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct verdict v = {};
    load_comm(s, child);
    decide_process(&v, s, DEFEND_OP_FORK, child, 0, BPF_CORE_READ(child, mm, exe_file), 0);
    if (!wanted(&v))
        return 0;
    struct defend_fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(DEFEND_EV_FORK);
        return 0;
    }
    fill_header(&e->h, DEFEND_EV_FORK, DEFEND_HOOK_TP_FORK, &v, DEFEND_OP_FORK);
    fill_task(&e->task, child);
    submit(e, urgent(e->h.actions));
    return 0;
}

/* argv from the new image's stack (just written by execve, so resident), into data[off]. */
static __always_inline __u32 read_args(struct defend_exec_event *e, __u32 off, struct task_struct *task)
{
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    unsigned long start = BPF_CORE_READ(mm, arg_start);
    unsigned long end = BPF_CORE_READ(mm, arg_end);
    e->args_len = 0;
    if (end <= start)
        return off;
    unsigned long n = end - start;
    if (n > DEFEND_ARGS_MAX) {
        n = DEFEND_ARGS_MAX;
        e->h.flags |= DEFEND_F_ARGS_TRUNCATED;
    }
    if (off > DEFEND_PATH_MAX * 2)
        off = DEFEND_PATH_MAX * 2;
    asm volatile("" : "+r"(off));
    if (bpf_probe_read_user(e->data + off, n, (void *)start) == 0) {
        e->args_len = n;
        return off + n;
    }
    return off;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(defend_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    struct scratch *s = get_scratch();
    if (!s)
        return 0;
    struct verdict v = {};
    struct file *exe = BPF_CORE_READ(bprm, file);
    /* decide resolves the executable only when a selector needs it; the record always does */
    s->path_len[0] = 0;
    load_comm(s, task);
    decide_process(&v, s, DEFEND_OP_EXEC, task, 0, exe, 0);
    if (!wanted(&v))
        return 0;
    if (!s->path_len[0])
        resolve_file(s, 0, exe);
    union defend_record *r = get_record();
    if (!r)
        return 0;
    struct defend_exec_event *e = &r->exec;
    fill_header(&e->h, DEFEND_EV_EXEC, DEFEND_HOOK_TP_EXEC, &v, DEFEND_OP_EXEC);
    fill_task(&e->task, task);
    e->h.flags |= path_flags(s, 0, DEFEND_F_PATH_TRUNCATED, DEFEND_F_PATH_UNRESOLVED);
    __u32 off = pack_path(e->data, 0, 0, &e->filename_len, s, 0);
    if (BPF_CORE_READ(exe, f_inode, i_nlink) == 0)
        e->h.flags |= DEFEND_F_EXE_DELETED;
    /* cwd goes into slot 1 */
    struct dentry *pwd = BPF_CORE_READ(task, fs, pwd.dentry);
    if (BPF_CORE_READ(pwd, d_inode, i_nlink) == 0)
        e->h.flags |= DEFEND_F_CWD_DELETED;
    resolve_path(s, 1, BPF_CORE_READ(task, fs, pwd.mnt), pwd);
    e->h.flags |= path_flags(s, 1, DEFEND_F_CWD_TRUNCATED, DEFEND_F_CWD_UNRESOLVED);
    off = pack_path(e->data, off, DEFEND_PATH_MAX, &e->cwd_len, s, 1);
    e->argc = BPF_CORE_READ(bprm, argc);
    off = read_args(e, off, task);
    send_record(e, __builtin_offsetof(struct defend_exec_event, data) + off, urgent(e->h.actions), DEFEND_EV_EXEC);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(defend_exit, struct task_struct *task)
{
    struct signal_struct *sig = BPF_CORE_READ(task, signal);
    /* only when the whole thread group is gone (signal->live dropped before the tracepoint) */
    if (BPF_CORE_READ(sig, live.counter) != 0)
        return 0;
    struct verdict v = {};
    if (!telemetry_verdict(&v, task))
        return 0;
    struct defend_exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(DEFEND_EV_EXIT);
        return 0;
    }
    fill_header(&e->h, DEFEND_EV_EXIT, DEFEND_HOOK_TP_EXIT, &v, DEFEND_OP_NONE);
    fill_task(&e->task, task);
    unsigned int sflags = BPF_CORE_READ(sig, flags);
    if (sflags & SIGNAL_GROUP_EXIT)
        e->exit_code = BPF_CORE_READ(sig, group_exit_code);
    else
        e->exit_code = BPF_CORE_READ(task, exit_code);
    e->pad = 0;
    submit(e, urgent(e->h.actions));
    return 0;
}

SEC("tp/syscalls/sys_exit_setsid")
int defend_setsid(struct trace_event_raw_sys_exit *ctx)
{
    if (ctx->ret < 0)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct verdict v = {};
    if (!telemetry_verdict(&v, task))
        return 0;
    struct defend_setsid_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(DEFEND_EV_SETSID);
        return 0;
    }
    fill_header(&e->h, DEFEND_EV_SETSID, DEFEND_HOOK_TP_SETSID, &v, DEFEND_OP_NONE);
    fill_task(&e->task, task);
    submit(e, urgent(e->h.actions));
    return 0;
}

/*
 * The Kubernetes cgroup tree (kubepods, QoS classes, pods, containers), marked by the agent. A cgroup
 * created below a marked one is marked too and made a container right here, in its mkdir, with the
 * policy's "container not described yet" masks: a new container's first process is judged (and
 * blocked) as a container process before the agent has read the record. QoS and pod cgroups hold no
 * process of their own; the agent removes them from `containers` when it reads their records.
 */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, __u8);
} container_parents SEC(".maps");

/*
 * Container cgroups outside Kubernetes, recognised by their name alone in their mkdir: the systemd
 * scopes the runtimes create (`docker-`, `cri-containerd-`, `crio-`, `libpod-` + a 64-hex id +
 * `.scope`) and Docker's cgroupfs layout (a 64-hex id in a cgroup named `docker`). A strict subset of
 * what the agent's CgroupPath recognises, so the agent never undoes it for a container.
 */
#define CG_NAME_BUF 128

static __always_inline int hex64_at(const char *b, int off)
{
    for (int i = 0; i < 64; i++) {
        char c = b[(off + i) & (CG_NAME_BUF - 1)];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

static __always_inline int scope_at(const char *b, int off)
{
    return b[(off + 64) & (CG_NAME_BUF - 1)] == '.' && b[(off + 65) & (CG_NAME_BUF - 1)] == 's' &&
           b[(off + 66) & (CG_NAME_BUF - 1)] == 'c' && b[(off + 67) & (CG_NAME_BUF - 1)] == 'o' &&
           b[(off + 68) & (CG_NAME_BUF - 1)] == 'p' && b[(off + 69) & (CG_NAME_BUF - 1)] == 'e' &&
           b[(off + 70) & (CG_NAME_BUF - 1)] == 0;
}

static __always_inline int is_runtime_container_name(struct cgroup *cgrp)
{
    char b[CG_NAME_BUF] = {};
    long n = bpf_probe_read_kernel_str(b, sizeof(b), BPF_CORE_READ(cgrp, kn, name));
    int off = -1;
    if (n == 7 + 71 && b[0] == 'd' && b[1] == 'o' && b[2] == 'c' && b[3] == 'k' && b[4] == 'e' && b[5] == 'r' && b[6] == '-')
        off = 7;
    else if (n == 7 + 71 && b[0] == 'l' && b[1] == 'i' && b[2] == 'b' && b[3] == 'p' && b[4] == 'o' && b[5] == 'd' && b[6] == '-')
        off = 7;
    else if (n == 5 + 71 && b[0] == 'c' && b[1] == 'r' && b[2] == 'i' && b[3] == 'o' && b[4] == '-')
        off = 5;
    else if (n == 15 + 71 && b[0] == 'c' && b[1] == 'r' && b[2] == 'i' && b[3] == '-' && b[4] == 'c' && b[5] == 'o' &&
             b[6] == 'n' && b[7] == 't' && b[8] == 'a' && b[9] == 'i' && b[10] == 'n' && b[11] == 'e' && b[12] == 'r' &&
             b[13] == 'd' && b[14] == '-')
        off = 15;
    if (off == 7)
        return hex64_at(b, 7) && scope_at(b, 7);
    if (off == 5)
        return hex64_at(b, 5) && scope_at(b, 5);
    if (off == 15)
        return hex64_at(b, 15) && scope_at(b, 15);
    if (n != 65 || !hex64_at(b, 0))
        return 0;
    /* /docker/<id> */
    char p[8] = {};
    struct cgroup_subsys_state *parent_css = BPF_CORE_READ(cgrp, self.parent);
    if (!parent_css)
        return 0;
    long pn = bpf_probe_read_kernel_str(p, sizeof(p), BPF_CORE_READ(parent_css, cgroup, kn, name));
    return pn == 7 && p[0] == 'd' && p[1] == 'o' && p[2] == 'c' && p[3] == 'k' && p[4] == 'e' && p[5] == 'r';
}

static __always_inline void adopt_if_container(struct cgroup *cgrp, __u64 id)
{
    struct cgroup_subsys_state *parent_css = cgrp->self.parent;
    if (!parent_css)
        return;
    __u64 parent_id = BPF_CORE_READ(parent_css, cgroup, kn, id);
    if (!bpf_map_lookup_elem(&container_parents, &parent_id) && !is_runtime_container_name(cgrp))
        return;
    __u8 one = 1;
    bpf_map_update_elem(&container_parents, &id, &one, BPF_ANY);
    struct defend_container c = {};
    for (__u32 g = 0; g < DEFEND_GENERATIONS; g++) {
        __u32 gen = g;
        struct defend_policy *p = bpf_map_lookup_elem(&policy, &gen);
        if (!p)
            continue;
        c.mask[g][DEFEND_SECTION_FILE] = p->unknown_container_mask[DEFEND_SECTION_FILE];
        c.mask[g][DEFEND_SECTION_PROCESS] = p->unknown_container_mask[DEFEND_SECTION_PROCESS];
    }
    /* NOEXIST: never overwrite what the agent already wrote. */
    bpf_map_update_elem(&containers, &id, &c, BPF_NOEXIST);
}

/* cgroup v2 (default hierarchy, id 0) directories: new containers are known at once. */
static __always_inline int cgroup_event(struct cgroup *cgrp, const char *path, __u32 type, __u32 hook)
{
    if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
        return 0;
    __u64 id = BPF_CORE_READ(cgrp, kn, id);
    if (type == DEFEND_EV_CGROUP_MKDIR)
        adopt_if_container(cgrp, id);
    else
        bpf_map_delete_elem(&container_parents, &id);
    struct defend_cgroup_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(type);
        return 0;
    }
    struct verdict v = {};
    fill_header(&e->h, type, hook, &v, DEFEND_OP_NONE);
    e->cgroup_id = id;
    e->level = BPF_CORE_READ(cgrp, level);
    long n = bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
    e->path_len = n > 0 ? n - 1 : 0;
    if (n == DEFEND_PATH_MAX)
        e->h.flags |= DEFEND_F_PATH_TRUNCATED;
    /* Wake the reader at once: until the agent describes a new container to the kernel, its first
     * processes are judged as host activity. cgroup changes are rare, so this costs nothing. */
    submit(e, 1);
    return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(defend_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
    return cgroup_event(cgrp, path, DEFEND_EV_CGROUP_MKDIR, DEFEND_HOOK_TP_CGROUP_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(defend_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
    return cgroup_event(cgrp, path, DEFEND_EV_CGROUP_RMDIR, DEFEND_HOOK_TP_CGROUP_RMDIR);
}
