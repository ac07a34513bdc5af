/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DEFEND_LOOP: the one way Defend's BPF programs loop, on every supported kernel.
 *
 * Every bpf/<name>.bpf.c is compiled twice by the build plugin (Plugins/BPFCompilerPlugin):
 *   - <name>          bpf_loop() (Linux 5.17+): one verified callback, up to 2^23 iterations;
 *   - <name>_bounded  -DDEFEND_NO_BPF_LOOP: a plain bounded loop (Linux 5.3+), which the verifier
 *                     walks iteration by iteration, so its bound costs verifier instructions.
 * The loader (Sources/DefendKernel/KernelFeatures.swift) probes the running kernel for the
 * bpf_loop helper (libbpf_probe_bpf_helper) and loads the matching variant: no version strings.
 *
 * Usage, with a callback of bpf_loop's type  static long fn(__u32 i, void *ctx)
 * (return 0 = continue, 1 = stop):
 *
 *     long n = DEFEND_LOOP(64, fn, &ctx);                   same bound in both variants
 *     long n = DEFEND_LOOP_FALLBACK(4096, 256, fn, &ctx);   the bounded variant stops after 256
 *
 * Both bounds must be compile-time constants. The value is the number of callback calls made
 * (as bpf_loop returns). A callback must record in its ctx that it FINISHED its work (e.g.
 * `ctx->done = 1` when it returns 1 because the job is complete): a loop that ran out of
 * iterations did not finish, and the caller must flag its result truncated (never pass a
 * partial result off as whole). DEFEND_LOOP_LIMIT(n, fallback) is the bound actually in force
 * in this variant, for callers that size things from it.
 */
#ifndef DEFEND_LOOP_H
#define DEFEND_LOOP_H

#ifdef DEFEND_NO_BPF_LOOP

#define DEFEND_HAVE_BPF_LOOP 0
#define DEFEND_LOOP_LIMIT(n, fallback) (fallback)
#define DEFEND_LOOP_FALLBACK(n, fallback, fn, ctx)                                                   \
    ({                                                                                               \
        long __defend_calls = 0;                                                                     \
        for (__u32 __defend_i = 0; __defend_i < (__u32)(fallback); __defend_i++) {                   \
            __defend_calls++;                                                                        \
            if ((fn)(__defend_i, (ctx)))                                                             \
                break;                                                                               \
        }                                                                                            \
        __defend_calls;                                                                              \
    })

#else

#define DEFEND_HAVE_BPF_LOOP 1
#define DEFEND_LOOP_LIMIT(n, fallback) (n)
#define DEFEND_LOOP_FALLBACK(n, fallback, fn, ctx) bpf_loop((n), (fn), (ctx), 0)

#endif

#define DEFEND_LOOP(n, fn, ctx) DEFEND_LOOP_FALLBACK(n, n, fn, ctx)

#endif /* DEFEND_LOOP_H */
