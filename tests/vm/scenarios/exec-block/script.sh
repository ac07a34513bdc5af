# exec refused by processExecutable (/opt/blocked/**) and by processName (uname); other execs run.
install_tool /opt/blocked/cat
install_tool /opt/app/uname
install_tool /opt/app/cat
in-container sh -s <<'WORKLOAD'
try path_rc /opt/blocked/cat /etc/hostname
try name_rc /opt/app/uname
try ok_rc /opt/app/cat /etc/hostname
try okname_rc /bin/echo still-fine
WORKLOAD
