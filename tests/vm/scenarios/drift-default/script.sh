# Drift with the built-in default policy: create an executable, chmod +x a file, modify an existing
# executable, all inside the container. All allowed (alert only).
install_tool /opt/app/tool            # existing executable (host side, before the workload)
in-container sh -s <<'WORKLOAD'
try create_rc cp /bin/busybox /tmp/work/true
try plain_rc sh -c 'echo "echo hi" > /tmp/work/tool.sh'
try chmod_rc chmod +x /tmp/work/tool.sh
try modify_rc sh -c 'echo "# drift" >> /opt/app/tool'
try plainfile_rc sh -c 'echo data > /tmp/work/notes.txt'
try exec_rc /tmp/work/true
WORKLOAD
test -x /tmp/work/true; echo trueexe_x=$?
test -x /tmp/work/tool.sh; echo toolsh_x=$?
tail -c 8 /opt/app/tool | grep -q drift; echo modified=$?
