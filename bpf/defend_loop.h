/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DEFEND_LOOP: the one way Defend's BPF programs loop, on every supported kernel.
 *
 * Every bpf/<name>.bpf.c is compiled twice by the build plugin (Plugins/BPFCompilerPlugin):
 *   - <name>          bpf_loop() (Linux 5.17+): one verified callback;
 *   - <name>_bounded  -DDEFEND_NO_BPF_LOOP (Linux 5.10+): a bounded loop whose body is a call of a
 *                     GLOBAL function fn_g(i). The verifier checks a global function once, on its
 *                     own, so each iteration costs it a call and a branch: a bound of a thousand
 *                     verifies in milliseconds on 5.10. The loop's context lives in a per-CPU map
 *                     (fn_ctx), as 5.10 lets global functions take scalars only.
 * The loader (Sources/DefendKernel/Sensor.swift) probes the running kernel for the bpf_loop helper
 * (libbpf_probe_bpf_helper) and loads the matching variant: no version strings. Both variants run
 * the same callbacks with the same bounds, so they decide identically.
 *
 * Usage, with a callback of bpf_loop's type  static long fn(__u32 i, void *ctx)
 * (return 0 = continue, 1 = stop), declared once after it with its context type:
 *
 *     DEFEND_LOOP_STEP(fn, struct fn_ctx)
 *     long n = DEFEND_LOOP(64, fn, &ctx);
 *
 * The bound must be a compile-time constant, a multiple of DEFEND_LOOP_CHUNK (the bounded variant
 * makes that many callback calls per global-function call). The value is the number of callback
 * calls made (bpf_loop's count; the bounded variant counts whole chunks). A callback must record in its ctx that it FINISHED its work (e.g.
 * `ctx->done = 1`): a loop that ran out of iterations did not finish, and the caller must flag its
 * result (never pass a partial result off as whole). Loops must not nest.
 */
#ifndef DEFEND_LOOP_H
#define DEFEND_LOOP_H

#ifdef DEFEND_NO_BPF_LOOP

#define DEFEND_HAVE_BPF_LOOP 0
/* callback calls per global-function call: the loop runs n / DEFEND_LOOP_CHUNK times */
#define DEFEND_LOOP_CHUNK 8

#define DEFEND_LOOP_STEP(fn, ctx_type)                                                               \
    struct {                                                                                         \
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                                     \
        __uint(max_entries, 1);                                                                      \
        __type(key, __u32);                                                                          \
        __type(value, ctx_type);                                                                     \
    } fn##_ctx SEC(".maps");                                                                         \
    __attribute__((noinline)) long fn##_g(__u32 i)                                                   \
    {                                                                                                \
        __u32 zero = 0;                                                                              \
        ctx_type *c = bpf_map_lookup_elem(&fn##_ctx, &zero);                                         \
        if (!c)                                                                                      \
            return 1;                                                                                \
        _Pragma("unroll") for (__u32 j = 0; j < DEFEND_LOOP_CHUNK; j++)                              \
            if (fn(i * DEFEND_LOOP_CHUNK + j, c))                                                    \
                return 1;                                                                            \
        return 0;                                                                                    \
    }

#define DEFEND_LOOP(n, fn, ctxp)                                                                     \
    ({                                                                                               \
        _Static_assert((n) % DEFEND_LOOP_CHUNK == 0, "DEFEND_LOOP bound not a multiple of the chunk");  \
        long __defend_calls = 0;                                                                     \
        __u32 __defend_zero = 0;                                                                     \
        __typeof__(*(ctxp)) *__defend_c = bpf_map_lookup_elem(&fn##_ctx, &__defend_zero);            \
        if (__defend_c) {                                                                            \
            *__defend_c = *(ctxp);                                                                   \
            for (__u32 __defend_i = 0; __defend_i < (__u32)(n) / DEFEND_LOOP_CHUNK; __defend_i++) {  \
                __defend_calls += DEFEND_LOOP_CHUNK;                                                 \
                if (fn##_g(__defend_i))                                                              \
                    break;                                                                           \
            }                                                                                        \
            __defend_c = bpf_map_lookup_elem(&fn##_ctx, &__defend_zero);                             \
            if (__defend_c)                                                                          \
                *(ctxp) = *__defend_c;                                                               \
        }                                                                                            \
        __defend_calls;                                                                              \
    })

#else

#define DEFEND_HAVE_BPF_LOOP 1
#define DEFEND_LOOP_STEP(fn, ctx_type)
#define DEFEND_LOOP(n, fn, ctxp) bpf_loop((n), (fn), (ctxp), 0)

#endif

#endif /* DEFEND_LOOP_H */
