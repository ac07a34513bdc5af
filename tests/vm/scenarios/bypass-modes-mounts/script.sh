# Routes around a block that are not chmod, write or execve: a POSIX ACL that sets execute bits,
# writes and execs through a bind mount of the protected tree, a program run by ld.so (an mmap, not
# an execve: refused at ld.so's read of an executable, at the mapping of a file without an execute
# bit). Each is refused with an alert; the same operations outside the trees are not.
mkdir -p /usr/local/bin /tmp/work /mnt/b /mnt/e /mnt/w
echo data > /usr/local/bin/plain; chmod 644 /usr/local/bin/plain
cp /bin/dyntrue /usr/local/bin/forbidden; chmod 755 /usr/local/bin/forbidden
# no execute bit: ld.so reads it freely and the executable mapping is what is judged
cp /bin/dyntrue /usr/local/bin/noexec-prog; chmod 644 /usr/local/bin/noexec-prog
echo data > /tmp/work/plain; chmod 644 /tmp/work/plain
before_passwd=$(md5sum /etc/passwd | cut -d' ' -f1)
if defend-start /out/events.ndjson /out/agent.log --scope all --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
mount --bind /usr/local/bin /mnt/b; echo bind_bin=$?
mount --bind /etc /mnt/e; echo bind_etc=$?
mount --bind /tmp/work /mnt/w; echo bind_work=$?
in-container sh -s <<'WORKLOAD'
try acl_bin_rc setacl /usr/local/bin/plain 755
try acl_work_rc setacl /tmp/work/plain 755
try bind_cp_rc cp /bin/busybox /mnt/b/dropped
try bind_etc_rc sh -c 'echo "evil::0:0::/:/bin/sh" >> /mnt/e/passwd'
try bind_exec_rc /mnt/b/forbidden
try ldso_rc /lib64/ld-linux-x86-64.so.2 /usr/local/bin/forbidden
try ldso_noexec_rc /lib64/ld-linux-x86-64.so.2 /usr/local/bin/noexec-prog
try exec_rc /usr/local/bin/forbidden
try dyn_ok_rc /bin/dyntrue
try ldso_ok_rc /lib64/ld-linux-x86-64.so.2 /bin/dyntrue
try bind_work_rc sh -c 'cp /bin/busybox /mnt/w/tool && echo x >> /mnt/w/plain2'
WORKLOAD
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
test -x /usr/local/bin/plain; echo bin_plain_exec=$?
test -x /tmp/work/plain; echo work_plain_exec=$?
test -e /usr/local/bin/dropped; echo dropped_exists=$?
test "$(md5sum /etc/passwd | cut -d' ' -f1)" = "$before_passwd"; echo passwd_unchanged=$?
test -e /tmp/work/tool; echo work_tool_exists=$?
