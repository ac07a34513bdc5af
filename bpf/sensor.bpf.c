// SPDX-License-Identifier: GPL-2.0-only
// Placeholder sensor: proves the build pipeline (replaced by the real programs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "defend_abi.h"

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
    struct defend_event_header *h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
    if (!h)
        return 0;
    __builtin_memset(h, 0, sizeof(*h));
    h->type = DEFEND_EV_EXEC;
    h->ktime_ns = bpf_ktime_get_boot_ns();
    bpf_ringbuf_submit(h, 0);
    return 0;
}
