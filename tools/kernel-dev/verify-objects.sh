#!/bin/bash
# Boots the Debian cloud kernel (BPF-LSM active) in QEMU/TCG with a tiny initramfs holding busybox,
# bpftool (+ its shared libraries) and the BPF objects built by `swift build`, and loads every
# program of every object (`bpftool prog loadall`): proves the 6.1 verifier accepts them, which
# the host (BPF-LSM refused) cannot. Usage: tools/kernel-dev/verify-objects.sh [object.o ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
objs=("$@")
if [ ${#objs[@]} -eq 0 ]; then
    mapfile -t objs < <(find .build/plugins/outputs -path '*BPFCompilerPlugin/obj/*.bpf.o' | sort)
fi
[ ${#objs[@]} -gt 0 ] || { echo "no objects: run swift build first" >&2; exit 1; }
kernel=$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1)
work=$(mktemp -d /tmp/defend-kdev.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,objs,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
for a in sh mount mkdir ls cat poweroff echo; do ln -sf busybox "$root/bin/$a"; done
cp "$(command -v bpftool)" "$root/sbin/bpftool"
for lib in $(ldd "$(command -v bpftool)" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do
    cp -L "$lib" "$root$lib" 2>/dev/null || { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
done
for o in "${objs[@]}"; do cp "$o" "$root/objs/"; done
cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t securityfs securityfs /sys/kernel/security; mount -t bpf bpf /sys/fs/bpf
echo "GUEST: lsm=$(cat /sys/kernel/security/lsm)"
for o in /objs/*.o; do
    n=$(basename "$o" .bpf.o)
    if bpftool prog loadall "$o" /sys/fs/bpf/$n > /tmp/$n.log 2>&1; then
        echo "GUEST: LOAD-OK $n: $(ls /sys/fs/bpf/$n | tr '\n' ' ')"
    else
        echo "GUEST: LOAD-FAIL $n"; cat /tmp/$n.log | tail -60
    fi
done
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initrd.cpio"
timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.cpio" -append "console=ttyS0 panic=-1 quiet" </dev/null | tr -d '\r' | grep -v '^\s*$' | tail -120
