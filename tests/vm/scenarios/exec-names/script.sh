# Exec blocking follows the file, not only the name it is called by. Phase 1 (exec block alone): a
# hard link to an exec-blocked file, a rename of it or of a directory holding exec-blocked names,
# are refused (judged as an exec of the file at the name it has); the same operations on a file no
# exec rule names proceed; copying the blocked file is refused at its read (judged as an exec of
# it). Phase 2 (the drift block added by a live reload): a copy of the same bytes from elsewhere
# (/bin/busybox) is a new executable and is refused as one. All on one filesystem (/opt), so renames are renames.
install_tool /opt/blocked/cat
install_tool /opt/tree/sub/cat
install_tool /opt/free/cat
mkdir -p /opt/work
# (busybox copies run the applet they are named after: every runnable name ends in /cat)
if defend-start /out/events.ndjson /out/agent.log --scope containers --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container sh -s <<'WORKLOAD'
try link_rc ln /opt/blocked/cat /opt/work/lnk
try link_tree_rc ln /opt/tree/sub/cat /opt/work/lnk2
try link_sym_rc ln -s /opt/blocked/cat /opt/work/sym
try sym_exec_rc /opt/work/sym /etc/hostname
try mv_rc mv /opt/blocked/cat /opt/work/moved
try mv_dir_rc mv /opt/tree /opt/work/tree
try mv_subdir_rc mv /opt/tree/sub /opt/work/sub
try mv_parent_rc mv /opt/blocked /opt/work/blk
try blocked_rc /opt/blocked/cat /etc/hostname
mkdir -p /opt/work/f1 /opt/work/f2
try free_link_rc ln /opt/free/cat /opt/work/f1/cat
try free_mv_rc mv /opt/work/f1/cat /opt/work/f2/cat
try free_exec_rc /opt/work/f2/cat /etc/hostname
try free_mvdir_rc mv /opt/free /opt/work/free
try copy_read_rc cp /opt/blocked/cat /opt/work/copy0
WORKLOAD
test -e /opt/work/copy0; echo exists_copy0=$?
for f in /opt/work/lnk /opt/work/lnk2 /opt/work/moved /opt/work/tree /opt/work/sub /opt/work/blk; do
    test -e "$f"; echo "exists_$(basename $f)=$?"
done
test -x /opt/blocked/cat && test -x /opt/tree/sub/cat; echo originals_in_place=$?

cat /job/policy.yaml - >/job/policy.new <<'POLICY'
file:
  selectors:
    - name: newExecutables
      operation: [createExecutable]
  responses:
    - match: [newExecutables]
      actions: [alert, block]
POLICY
mv /job/policy.new /job/policy.yaml
kill -HUP "$(cat /run/defend.pid)"
i=0; while ! grep -q "policy reloaded" /out/agent.log && [ $i -lt 300 ]; do usleep 100000; i=$((i + 1)); done
grep -q "policy reloaded" /out/agent.log; echo reloaded=$?
in-container sh -s <<'WORKLOAD'
try copy_rc cp /bin/busybox /opt/work/copy
try copy_chmod_rc sh -c 'cat /bin/busybox > /opt/work/copy2 && chmod +x /opt/work/copy2'
try copy2_exec_rc /opt/work/copy2 /etc/hostname
WORKLOAD
test -e /opt/work/copy; echo exists_copy=$?
test -x /opt/work/copy2; echo copy2_executable=$?
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
