# log actions only: log documents, no alerts; an operation that matches no selector gives no document.
install_tool /opt/app/cat
install_tool /opt/other/cat
mkdir -p /var/tmp
in-container sh -s <<'WORKLOAD'
try exec_rc /opt/app/cat /etc/hostname
try create_rc sh -c 'echo one > /tmp/work/a.txt'
try modify_rc sh -c 'echo two >> /tmp/work/a.txt'
try delete_rc rm /tmp/work/a.txt
try nomatch_exec_rc /opt/other/cat /etc/hostname
try nomatch_file_rc sh -c 'echo x > /var/tmp/nomatch.txt'
WORKLOAD
