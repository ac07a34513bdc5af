# A container that exists (cgroup + a running process) before the agent starts must be known to the
# agent from its start-up scan: with --scope containers its operations are still evaluated.
in-container sleep 600 &
sleeper=$!
usleep 300000
echo preexisting=$(cut -d: -f3 /proc/$sleeper/cgroup)
if defend-start /out/events.ndjson /out/agent.log --scope containers; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container sh -s <<'WORKLOAD'
try create_rc cp /bin/busybox /tmp/work/late
WORKLOAD
usleep 500000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
kill $sleeper
