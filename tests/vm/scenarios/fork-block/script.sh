# fork() refused for processes named "forker" (tools/vm/forker.c); the shell's own forks work.
in-container sh -s <<'WORKLOAD'
try forker_rc forker 3
try shell_rc sh -c '( exit 0 ); echo subshell=$?'
try pipe_rc sh -c 'echo a | cat >/dev/null'
WORKLOAD
