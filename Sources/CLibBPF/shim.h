#ifndef DEFEND_CLIBBPF_SHIM_H
#define DEFEND_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "../../bpf/defend_abi.h"

/* DEFEND_PATH_FILTER_BIT as the BPF programs compute it, for the test that Swift agrees with C. */
static inline __u32 defend_path_filter_bit(__u64 hash, __u32 len, __u32 section_kind) {
    return DEFEND_PATH_FILTER_BIT(hash, len, section_kind);
}

/* libbpf's print callback takes a va_list, which Swift cannot handle: format the line here. */
typedef void (*defend_libbpf_log_fn)(int level, const char *line);
/* A function-local static: Swift's importer does not emit storage for a file-scope static. */
static inline defend_libbpf_log_fn *defend_libbpf_logger_slot(void) {
    static defend_libbpf_log_fn fn;
    return &fn;
}

static inline int defend_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    /* a verifier log arrives as one call: format it whole (its end says why a load failed) */
    char line[1024];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(line, sizeof line, fmt, copy);
    va_end(copy);
    defend_libbpf_log_fn fn = *defend_libbpf_logger_slot();
    if (n >= (int)sizeof line) {
        char *big = (char *)malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            if (fn) fn((int)level, big);
            free(big);
            return 0;
        }
    }
    if (fn) fn((int)level, line);
    return 0;
}

static inline void defend_libbpf_set_logger(defend_libbpf_log_fn fn) {
    *defend_libbpf_logger_slot() = fn;
    libbpf_set_print(defend_libbpf_print);
}
/* Parameter count of the kernel function `name` in the kernel's BTF, or -1. */
static inline int defend_btf_func_params(const char *name) {
    struct btf *b = btf__load_vmlinux_btf();
    if (!b) return -1;
    int n = -1;
    int id = btf__find_by_name_kind(b, name, BTF_KIND_FUNC);
    if (id > 0) {
        const struct btf_type *t = btf__type_by_id(b, (__u32)id);
        const struct btf_type *p = t ? btf__type_by_id(b, t->type) : NULL;
        if (p) n = btf_vlen(p);
    }
    btf__free(b);
    return n;
}
#endif
