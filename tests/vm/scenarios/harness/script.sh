# Test-bed sanity (no policy expectations): the guest facilities the other scenarios rely on.
echo lsm=$(cat /sys/kernel/security/lsm)
test -d /sys/fs/bpf && grep -q ' /sys/fs/bpf bpf ' /proc/mounts; echo bpffs=$?
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; echo cgroup2=$?
grep -q ' /sys/kernel/tracing tracefs ' /proc/mounts; echo tracefs=$?
ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1; echo loopback=$?
test -n "$(pidof defend)"; echo agent_running=$?
in-container sh -c 'echo cgroup=$(cut -d: -f3 /proc/self/cgroup)'
ptyrun sh -c 'tty | sed "s/^/ctty=/"'
setsid sh -c 'tty >/dev/null; echo notty=$?' </dev/null
try forker_rc forker 2
try exit_rc sh -c 'exit 7'
exit 3
