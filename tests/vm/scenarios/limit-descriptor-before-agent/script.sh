# LIMIT (README "Limits of path-based decisions"): a descriptor opened for writing before the agent
# started keeps writing into a protected file; the same write through a new open is refused.
exec 3>>/etc/hostname
if defend-start /out/events.ndjson /out/agent.log --scope all --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
try old_fd_rc sh -c 'echo through-old-fd >&3'
try new_open_rc sh -c 'echo through-new-open >> /etc/hostname'
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
grep -q through-old-fd /etc/hostname; echo old_fd_written=$?
grep -q through-new-open /etc/hostname; echo new_open_written=$?
