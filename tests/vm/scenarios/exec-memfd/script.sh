# A fileless exec (memfd_create + fexecve) has no path: it is reported truthfully (unresolved, named
# memfd:payload, never "/") and, since a processExecutable block could apply, refused (fail closed).
# Execs of files keep running.
in-container sh -s <<'WORKLOAD'
try memfd_rc memfdexec /bin/busybox true
try file_rc /bin/busybox true
WORKLOAD
