# Exec through a symlink (/bin/cat -> busybox): the task name is "cat", which is what processName
# matches; the document must name the process the way the matching selector saw it.
in-container sh -s <<'WORKLOAD'
try cat_rc /bin/cat /etc/hostname
echo comm=$(/bin/cat /proc/self/comm)
WORKLOAD
