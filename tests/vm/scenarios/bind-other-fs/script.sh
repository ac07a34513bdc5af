# Bind mounts of a filesystem other than the root's: /srv/data is its own tmpfs; its trees are bound
# to /mnt/b (a directory of it) and /mnt/d (its root) before the agent starts. Writes and execs
# through either are judged by the names from /srv/data, the filesystem's first mount. Another
# tmpfs bound the same way (/srv/other -> /mnt/o) is untouched.
mkdir -p /srv/data /srv/other /mnt/b /mnt/d /mnt/o
mount -t tmpfs tmpfs /srv/data && mount -t tmpfs tmpfs /srv/other; echo mounts_rc=$?
install_tool /srv/data/bin/cat
echo keep > /srv/data/file
mount --bind /srv/data/bin /mnt/b && mount --bind /srv/data /mnt/d && mount --bind /srv/other /mnt/o; echo binds_rc=$?
if defend-start /out/events.ndjson /out/agent.log --scope containers --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container sh -s <<'WORKLOAD'
try via_dir_write_rc sh -c 'echo x > /mnt/b/new'
try via_root_write_rc sh -c 'echo x >> /mnt/d/file'
try via_root_delete_rc rm -f /mnt/d/file
try via_dir_exec_rc /mnt/b/cat /etc/hostname
try via_root_exec_rc /mnt/d/bin/cat /etc/hostname
try direct_write_rc sh -c 'echo x > /srv/data/direct'
try other_write_rc sh -c 'echo fine > /mnt/o/new'
WORKLOAD
test -e /srv/data/bin/new; echo new_exists=$?
grep -qx keep /srv/data/file; echo file_unchanged=$?
test -e /srv/other/new; echo other_written=$?
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
