#!/bin/bash
# Loads both builds of the BPF objects with the agent's own loader (`defend kernel probe`, which picks
# programs per kernel exactly as `defend run` does) in a QEMU/TCG guest of each Debian cloud kernel,
# BPF-LSM active, and checks what each kernel's verifier accepted. The host (BPF-LSM refused) cannot.
#
# Usage: tools/kernel-dev/verify-objects.sh [--kernel 5.10|6.1|6.12|VMLINUZ]... [--binary DEFEND]
#   (default kernels: 5.10 6.1 6.12; default binary: tools/vm/build-static)
#
# Expectations, per kernel: the bounded build (DEFEND_BPF_VARIANT=bounded) loads and attaches every
# program (process events ON, file events and blocking ON, no "failed:" line); the bpf_loop build
# does the same exactly when the kernel has bpf_loop, and otherwise is refused with a message that
# names the missing helper; the automatic choice loads. Exit 0 only when every expectation holds;
# prints one OK/FAIL line per check and kernel, and the guest time each load took.
set -uo pipefail
cd "$(dirname "$0")/../.."
kernels=() binary=
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) kernels+=("${2:?}"); shift 2 ;;
        --binary) binary=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "verify-objects: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12)
if [ -z "$binary" ]; then binary=$(tools/vm/build-static) || { echo "verify-objects: static build failed"; exit 1; }; fi
work=$(mktemp -d /tmp/defend-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/job.sh" <<'JOB'
up() { cut -d' ' -f1 /proc/uptime; }
has_loop=0
for variant in bounded loop auto; do
    t0=$(up)
    DEFEND_BPF_VARIANT=$variant defend kernel probe >/out/probe-$variant.log 2>&1
    echo "rc=$?" >>/out/probe-$variant.log
    echo "took=$(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')" >>/out/probe-$variant.log
done
JOB
failed=0
for k in "${kernels[@]}"; do
    out="$work/$k"
    if ! tools/vm-run --kernel "$k" --binary "$binary" --no-agent --script "$work/job.sh" --out "$out" --timeout 300 \
            >"$work/vm-$k.log" 2>&1; then
        echo "[$k] FAIL tools/vm-run: $(tail -n 3 "$work/vm-$k.log" | tr '\n' ' ')"; failed=1; continue
    fi
    loop=0
    grep -q 'bpf_loop yes' "$out/probe-bounded.log" && loop=1
    for variant in bounded loop auto; do
        log="$out/probe-$variant.log"
        took=$(sed -n 's/^took=//p' "$log")
        ok=0
        if grep -q 'process events ON' "$log" && grep -q 'file events and blocking ON' "$log" && ! grep -q '^failed:' "$log" \
                && grep -q '^rc=0' "$log"; then loads=1; else loads=0; fi
        want=1
        [ $variant = loop ] && want=$loop
        if [ $loads = $want ]; then
            ok=1
        fi
        if [ $variant = loop ] && [ $loop = 0 ] && ! grep -q 'lacks the BPF helper bpf_loop' "$log"; then ok=0; fi
        if [ $ok = 1 ]; then
            if [ $loads = 1 ]; then echo "[$k] OK $variant loads and attaches everything (${took}s guest time)"
            else echo "[$k] OK $variant refused as expected: $(grep -o 'the kernel lacks[^;]*' "$log" | head -n 1)"; fi
        else
            echo "[$k] FAIL $variant (bpf_loop=$loop):"; sed 's/^/    /' "$log" | cut -c1-300 | tail -n 15; failed=1
        fi
    done
done
if [ $failed = 0 ]; then echo "verify-objects: all objects behave as expected on: ${kernels[*]}"; else echo "verify-objects: FAILED"; fi
exit $failed
