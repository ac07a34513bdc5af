#!/bin/bash
# The BPF-LSM half end to end in the Debian cloud kernel (QEMU/TCG): a static `defend kernel
# watch` applies tools/kernel-dev/lsm-smoke.policy.yaml (scope all), the guest performs file
# operations and blocked writes/execs/forks, and the host checks the records and the denials.
# Usage: tools/kernel-dev/lsm-smoke.sh [path/to/static/defend]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-}
if [ -z "$bin" ]; then
    swift build -c release -Xswiftc -static-executable --scratch-path .build-static --product defend >&2
    bin=.build-static/release/defend
fi
kernel=$(tools/vm/fetch-kernel "${DEFEND_VM_KERNEL:-6.1}")
work=$(mktemp -d /tmp/defend-lsm.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$root/bin/busybox"
for a in sh mount mkdir ls cat poweroff echo sleep chmod mv ln rm cp kill grep ifconfig true touch truncate setsid; do
    ln -sf busybox "$root/bin/$a"
done
strip -o "$root/bin/defend" "$bin"
cp tools/kernel-dev/lsm-smoke.policy.yaml "$root/policy.yaml"
cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t securityfs securityfs /sys/kernel/security; mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup; mount -t tracefs tracefs /sys/kernel/tracing
ifconfig lo 127.0.0.1 up
/bin/defend kernel watch --policy /policy.yaml --scope all --seconds 120 --stop-file /tmp/stop > /tmp/out 2> /tmp/err &
watch=$!
i=0; until grep -q READY /tmp/out 2>/dev/null || [ $i -gt 600 ]; do sleep 0.2; i=$((i+1)); done
mkdir -p /tmp/w /tmp/deny
echo a > /tmp/w/new.txt
echo b >> /tmp/w/new.txt
chmod 755 /tmp/w/new.txt
echo c >> /tmp/w/new.txt
: > /tmp/w/new.txt
mv /tmp/w/new.txt /tmp/w/moved
ln /tmp/w/moved /tmp/w/hard
rm /tmp/w/hard
truncate -s 0 /tmp/w/moved
cat /tmp/w/moved > /dev/null
if echo x > /tmp/deny/blocked.txt; then echo "GUEST: write-deny rc=0"; else echo "GUEST: write-deny rc=$?"; fi
[ -e /tmp/deny/blocked.txt ] && echo "GUEST: blocked file exists" || echo "GUEST: blocked file absent"
mkdir -p /data/vol && mount -t tmpfs vol /data/vol
echo a > /data/a
echo b > /data/vol/b
echo c > /tmp/cfgsrc && touch /cfg && mount -o bind /tmp/cfgsrc /cfg
echo d >> /cfg
cp /bin/busybox /tmp/evil
if /tmp/evil true; then echo "GUEST: exec-deny rc=0"; else echo "GUEST: exec-deny rc=$?"; fi
(cd /tmp/w && sh -c 'exit 5')
setsid true
cp /bin/busybox /tmp/ash
/tmp/ash -c '/bin/true; echo "GUEST: fork-deny rc=$?"'
sleep 1
touch /tmp/stop
i=0; while kill -0 $watch 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done
echo "GUEST: lsm=$(cat /sys/kernel/security/lsm)"
sed 's/^/GUEST-ERR: /' /tmp/err
sed 's/^/GUEST-OUT: /' /tmp/out
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initrd.cpio"
timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.cpio" -append "console=ttyS0 panic=-1 quiet" </dev/null \
    | tr -d '\r' | grep '^GUEST' > "$work/log" || true
cat "$work/log"
fail=0
expect() { grep -qE "$1" "$work/log" || { echo "MISSING: $1"; fail=1; }; }
expect 'sensor: .*file events and blocking ON'
expect 'lsm__path_mknod op=createFile actions=log .*path=/tmp/w/new.txt'
expect 'lsm__file_open op=modifyFile actions=log .*path=/tmp/w/new.txt'
expect 'lsm__path_chmod op=createExecutable actions=log .*path=/tmp/w/new.txt'
expect 'lsm__file_open op=modifyExecutable actions=log .*path=/tmp/w/new.txt'
expect 'lsm__path_rename op=createExecutable actions=log .*path=/tmp/w/moved old=/tmp/w/new.txt'
expect 'lsm__path_link op=createExecutable actions=log .*path=/tmp/w/hard old=/tmp/w/moved'
expect 'lsm__path_unlink op=deleteFile actions=log .*path=/tmp/w/hard'
expect 'lsm__path_mknod op=createFile actions=alert,block .* DENIED .*path=/tmp/deny/blocked.txt'
expect 'GUEST: write-deny rc=[1-9]'
expect 'GUEST: blocked file absent'
expect 'lsm__bprm_check_security op=exec actions=alert,block .* DENIED .*comm=evil .*file=/tmp/evil'
expect 'GUEST: exec-deny rc=[1-9]'
expect 'lsm__task_alloc op=fork actions=alert,block .* DENIED .*comm=ash'
expect 'lsm__path_mknod op=createFile actions=log selectors=0xc .*path=/data/a mode=[0-7]+$'
expect 'lsm__path_mknod op=createFile actions=log selectors=0x8 .*path=/data/vol/b mode=[0-7]+ volume$'
expect 'lsm__file_open op=modifyFile actions=log selectors=0x10 .*path=/cfg mode=[0-7]+ volume filemount$'
# tracepoint half on 6.1 (process telemetry is on)
# (busybox sh runs applets by exec of /proc/self/exe: the new comm is "exe", the file is busybox;
#  "noexec" applets such as mv only fork)
expect 'tracepoint__sched_process_exec op=exec pid=[0-9]+ ppid=1 comm=exe cgroup=1 file=/bin/busybox cwd=/ argv=\["grep", "-q", "READY", "/tmp/out"\]'
expect 'tracepoint__sched_process_fork .*comm=init'
expect 'tracepoint__sched_process_exec .*file=/bin/busybox cwd=/tmp/w argv=\["sh", "-c", "exit 5"\]'
expect 'tracepoint__sched_process_exit .*comm=sh .* code=5 signal=0'
expect 'tracepoint__syscalls_sys_exit_setsid .*comm=setsid'
expect 'lost: 0 decode-errors: 0'
# the read-only cat of moved is not an event; the O_TRUNC open is reported once, not twice
expect 'lsm__path_truncate op=modifyExecutable actions=log .*path=/tmp/w/moved'
if grep -q 'lsm__path_truncate.*path=/tmp/w/new.txt' "$work/log"; then echo "UNEXPECTED: path_truncate duplicate of an O_TRUNC open"; fail=1; fi
n=$(grep -c 'lsm__file_open op=modifyExecutable.*path=/tmp/w/new.txt' "$work/log" || true)
[ "$n" = 2 ] || { echo "UNEXPECTED: $n modifyExecutable opens (want 2: append, truncate)"; fail=1; }
[ $fail = 0 ] && echo "LSM SMOKE OK" || { echo "LSM SMOKE FAILED"; exit 1; }
