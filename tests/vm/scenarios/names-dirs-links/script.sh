# Every name an operation changes is judged: directories, both names of a rename and of an exchange,
# the protected file behind a new hard link. Ordinary work elsewhere is not refused.
mkdir -p /usr/local/bin && cp /bin/busybox /usr/local/bin/tool && echo data > /usr/local/bin/plain
before_passwd=$(md5sum /etc/passwd | cut -d' ' -f1); before_tool=$(md5sum /usr/local/bin/tool | cut -d' ' -f1)
if defend-start /out/events.ndjson /out/agent.log --scope all --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container sh -s <<'WORKLOAD'
try mv_etc_rc mv /etc /etc_old
try mkdir_etc_rc mkdir /etc/newdir
# (renames and links on one filesystem: across filesystems the kernel refuses them with EXDEV first)
mkdir -p /prep /root && cp /bin/busybox /prep/dropper
try mv_dir_in_rc mv /prep /usr/local/bin/prep
try mv_usr_local_rc mv /usr/local /usr_local_moved
echo root::0:0::/:/bin/sh > /root/pw
try exchange_rc exchange /etc/passwd /root/pw
try exchange_rev_rc exchange /root/pw /etc/passwd
try mv_out_rc mv /etc/hostname /root/hostname
try mv_over_rc mv /root/pw /etc/passwd
try link_exe_rc ln /usr/local/bin/tool /root/h
try link_plain_rc ln /usr/local/bin/plain /root/p
try link_etc_rc ln /etc/passwd /root/pwlink
try symlink_etc_rc ln -s /root/pw /etc/evil
# ordinary work: directories, renames, exchanges and links outside the trees
try ordinary_rc sh -c 'cd /tmp/work && mkdir d x && rmdir x && mv d e && echo a > f && echo b > g && exchange f g && ln f h && ln -s f s && mv e /tmp/work/e2 && rmdir e2 && cp /bin/busybox t && ln t t2 && chmod +x f'
WORKLOAD
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
test -d /etc && test ! -e /etc_old; echo etc_in_place=$?
test -e /prep/dropper && test ! -e /usr/local/bin/prep && test -e /usr/local/bin/tool; echo prep_outside=$?
test "$(md5sum /etc/passwd | cut -d' ' -f1)" = "$before_passwd"; echo passwd_unchanged=$?
test -e /etc/hostname; echo hostname_in_place=$?
test ! -e /root/h && test ! -e /root/p && test ! -e /root/pwlink; echo no_links=$?
test "$(md5sum /usr/local/bin/tool | cut -d' ' -f1)" = "$before_tool"; echo tool_unchanged=$?
