# The same operations by a host process and by a container process.
install_tool /opt/h/cat
install_tool /opt/c/cat
try host_create_rc cp /bin/busybox /tmp/work/host-exe
try host_exec_rc /opt/h/cat /etc/hostname
# Create the container's cgroup first and give the agent a moment to learn about it: this scenario is
# about scoping; operations in the very first moments of a new container are new-container-immediate's.
in-container true
usleep 1000000
in-container sh -s <<'WORKLOAD'
try ctr_create_rc cp /bin/busybox /tmp/work/ctr-exe
try ctr_exec_rc /opt/c/cat /etc/hostname
WORKLOAD
