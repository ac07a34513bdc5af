# The agent runs as uid 65534 holding only CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE (RLIMIT_MEMLOCK on 5.10),
# CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH
# (README, Operating the agent): it loads both halves, and blocks exactly as it does as root. The
# same user without CAP_BPF and CAP_PERFMON is refused at start with those two named.
install_tool /opt/blocked/cat
install_tool /opt/app/cat
mkdir -p /run/defend-user/state && chown -R 65534:65534 /run/defend-user && chmod 700 /run/defend-user
touch /out/events.ndjson && chown 65534 /out/events.ndjson
AS_ARGS="--scope all --policy /job/policy.yaml --state-dir /run/defend-user/state --status-socket /run/defend-user/defend.sock"
/bin/capsrun 65534 sys_ptrace,dac_read_search /bin/defend run $AS_ARGS --output /run/defend-user/bare.ndjson 2>/out/bare.log
echo bare_rc=$?
grep -q "lacks CAP_BPF and CAP_PERFMON" /out/bare.log; echo bare_names_caps=$?
# CAP_BPF and CAP_PERFMON alone: enough where BPF memory is charged to the memory cgroup (5.11+); on
# 5.10 the maps need RLIMIT_MEMLOCK raised, and the refusal says CAP_SYS_RESOURCE.
/bin/capsrun 65534 bpf,perfmon /bin/defend run $AS_ARGS --output /run/defend-user/min.ndjson \
    --ready-file /run/defend-user/min.ready 2>/out/min.log & minpid=$!
i=0; while [ $i -lt 600 ] && [ ! -e /run/defend-user/min.ready ] && kill -0 $minpid 2>/dev/null; do usleep 100000; i=$((i + 1)); done
if [ -e /run/defend-user/min.ready ]; then echo min_outcome=ready
elif grep -q "CAP_SYS_RESOURCE" /out/min.log; then echo min_outcome=needs_sys_resource
else echo min_outcome=other; fi
kill -TERM $minpid 2>/dev/null; wait $minpid
export DEFEND_AS="65534 bpf,perfmon,sys_resource,sys_ptrace,dac_read_search" READY_FILE=/run/defend-user/ready
if defend-start /out/events.ndjson /out/agent.log $AS_ARGS; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
echo agent_uid=$(awk '/^Uid:/ {print $3}' /proc/$(cat /run/defend.pid)/status)
echo agent_capeff=$(awk '/^CapEff:/ {print $2}' /proc/$(cat /run/defend.pid)/status)
grep -q "file events and blocking ON" /out/agent.log; echo lsm_on=$?
in-container sh -s <<'WORKLOAD'
try exec_blocked_rc /opt/blocked/cat /etc/hostname
try exec_ok_rc /opt/app/cat /etc/hostname
try etc_write_rc sh -c 'echo x > /etc/nonroot-newfile'
try tmp_write_rc sh -c 'echo fine > /tmp/work/nonroot.txt'
WORKLOAD
test -e /etc/nonroot-newfile; echo etc_newfile_exists=$?
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
