# A burst of short processes and file changes in the container: every one must be reported (no loss),
# with the default policy (fork/exec log, drift alerts).
install_tool /opt/burst/true
in-container sh -s <<'WORKLOAD'
i=0
while [ $i -lt 300 ]; do /opt/burst/true; i=$((i + 1)); done
echo execs_done=$i
i=0
while [ $i -lt 100 ]; do cp /opt/burst/true /tmp/work/exe$i; i=$((i + 1)); done
echo files_done=$i
WORKLOAD
