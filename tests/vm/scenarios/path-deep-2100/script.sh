# Paths deeper than PATH_MAX and than the walk's bound (2100 nested directories, 6300 bytes; the
# trees are made before the agent starts). Below /usr/local/bin: at depth 2000 the path is walked to
# the root and cut at PATH_MAX (the cut path still lies in the tree: refused); at depth 2100 it needs
# more steps than the walk takes, so it is unresolved and refused fail closed. The same depth-2000
# write below /tmp is not in the tree: allowed. Every hook's work is bounded (no soft lockup).
mkdir -p /usr/local/bin /tmp/deep
deepmk /usr/local/bin dd 2100 /bin/busybox pre; echo pre_bin_rc=$?
deepmk /tmp/deep dd 2100 /bin/busybox pre; echo pre_tmp_rc=$?
if defend-start /out/events.ndjson /out/agent.log --scope all --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container sh -s <<'WORKLOAD'
try deep2000_rc deepmk /usr/local/bin dd 2000 /bin/busybox tool
try deep2100_rc deepmk /usr/local/bin dd 2100 /bin/busybox tool
try tmp2000_rc deepmk /tmp/deep dd 2000 /bin/busybox tool
WORKLOAD
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
dmesg | grep -c 'soft lockup' | sed 's/^/soft_lockups=/'
