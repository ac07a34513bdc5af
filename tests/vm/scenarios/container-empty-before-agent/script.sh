# A container cgroup that exists but holds no process when the agent starts (e.g. created by the runtime
# before its first process, or between restarts); a process joins it afterwards. With --scope containers
# its operations must still be evaluated (the cgroup must be known from the start-up scan, not only from
# cgroup_mkdir events or from processes seen at start).
EMPTY_ID=e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0
in-container -i $EMPTY_ID true
echo procs_before=$(wc -l </sys/fs/cgroup/kubepods/besteffort/pod$POD_UID/$EMPTY_ID/cgroup.procs)
if defend-start /out/events.ndjson /out/agent.log --scope containers; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container -i $EMPTY_ID sh -c 'try create_rc cp /bin/busybox /tmp/work/late-empty'
usleep 500000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
