# One operation fired by a log response and an alert response: one document in each stream, both listing
# every matched selector; an operation fired only by the log response: a log document only.
install_tool /opt/tools/cat
install_tool /opt/other/cat
in-container sh -s <<'WORKLOAD'
try tool_rc /opt/tools/cat /etc/hostname
try other_rc /opt/other/cat /etc/hostname
WORKLOAD
