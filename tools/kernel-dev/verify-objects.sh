#!/bin/bash
# Boots a Debian cloud kernel (BPF-LSM active) in QEMU/TCG with a tiny initramfs holding busybox,
# bpftool (+ its shared libraries) and the BPF objects built by `swift build`, and loads every
# program of every object (`bpftool prog loadall`): proves that kernel's verifier accepts them,
# which the host (BPF-LSM refused) cannot.
#
# Usage: tools/kernel-dev/verify-objects.sh [--kernel 5.10|6.1|6.12|VMLINUZ]... [object.o ...]
#   (default kernels: 5.10 6.1 6.12; default objects: .build's BPFCompilerPlugin obj/*.bpf.o)
#
# Expectations, per kernel: every `<name>_bounded` object (plain bounded loops) must load; every
# bpf_loop object must load exactly when the kernel has the bpf_loop helper (bpftool feature probe
# in the guest), and must be refused when it has not (else the loader's probe would be pointless).
# BPF-LSM must be listed in the guest's /sys/kernel/security/lsm. Exit 0 only when every
# expectation holds; prints one OK/FAIL line per object and kernel.
set -euo pipefail
cd "$(dirname "$0")/../.."
kernels=() objs=()
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) kernels+=("${2:?}"); shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) objs+=("$1"); shift ;;
    esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12)
if [ ${#objs[@]} -eq 0 ]; then
    mapfile -t objs < <(find .build/plugins/outputs -path '*BPFCompilerPlugin/obj/*.bpf.o' | sort)
    [ ${#objs[@]} -gt 0 ] || mapfile -t objs < <(find .build-static/plugins/outputs -path '*BPFCompilerPlugin/obj/*.bpf.o' | sort)
fi
[ ${#objs[@]} -gt 0 ] || { echo "verify-objects: no objects: run swift build first" >&2; exit 1; }
work=$(mktemp -d /tmp/defend-kdev.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,objs,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
for a in sh mount mkdir ls cat poweroff echo grep tail basename cut awk tr; do ln -sf busybox "$root/bin/$a"; done
cp "$(command -v bpftool)" "$root/sbin/bpftool"
for lib in $(ldd "$(command -v bpftool)" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
done
for o in "${objs[@]}"; do cp "$o" "$root/objs/"; done
cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t securityfs securityfs /sys/kernel/security; mount -t bpf bpf /sys/fs/bpf
lsm=$(cat /sys/kernel/security/lsm)
echo "GUEST: kernel=$(cat /proc/sys/kernel/osrelease) lsm=$lsm"
case ",$lsm," in *,bpf,*) ;; *) echo "GUEST: FAIL bpf is not in the active LSM list" ;; esac
has_loop=0
bpftool feature probe kernel 2>/dev/null | grep -q 'bpf_loop' && has_loop=1
echo "GUEST: bpf_loop=$has_loop"
for o in /objs/*.o; do
    n=$(basename "$o" .bpf.o)
    want=1
    case $n in *_bounded) ;; *) want=$has_loop ;; esac
    t0=$(cut -d' ' -f1 /proc/uptime)
    if bpftool prog loadall "$o" /sys/fs/bpf/$n > /tmp/$n.log 2>&1; then got=1; else got=0; fi
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo "GUEST: $n load took $(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.1f", b - a }')s (guest time)"
    if [ $got = $want ]; then
        [ $got = 1 ] && echo "GUEST: OK $n loads: $(ls /sys/fs/bpf/$n | tr '\n' ' ')" \
                     || echo "GUEST: OK $n refused as expected (no bpf_loop)"
    else
        [ $want = 1 ] && echo "GUEST: FAIL $n did not load" || echo "GUEST: FAIL $n loaded without bpf_loop"
        tail -n 40 /tmp/$n.log
    fi
done
echo "GUEST: DONE"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initrd.cpio"
failed=0
for k in "${kernels[@]}"; do
    case $k in 5.10|6.1|6.12) vmlinuz=$(tools/vm/fetch-kernel "$k") ;; *) vmlinuz=$k ;; esac
    lsm_arg=$(tools/vm/kernel-lsm-arg "$vmlinuz")
    timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$vmlinuz" -initrd "$work/initrd.cpio" -append "console=ttyS0 panic=-1 quiet ${lsm_arg}" \
        </dev/null 2>&1 | tr -d '\r' | grep -v '^\s*$' > "$work/console-$k.log" || true
    grep -v '^GUEST: DONE' "$work/console-$k.log" | sed -n '/GUEST: kernel=/,$p' | sed "s|^|[$k] |"
    if ! grep -q '^GUEST: DONE' "$work/console-$k.log"; then
        echo "[$k] FAIL the guest did not finish; last console lines:"; tail -n 20 "$work/console-$k.log"; failed=1
    elif grep -q '^GUEST: FAIL' "$work/console-$k.log"; then
        failed=1
    fi
done
if [ $failed = 0 ]; then echo "verify-objects: all objects behave as expected on: ${kernels[*]}"; else echo "verify-objects: FAILED"; fi
exit $failed
