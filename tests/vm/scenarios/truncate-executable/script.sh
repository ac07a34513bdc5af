# Truncating an existing executable is modifyExecutable (default policy: alert); a plain file is not.
install_tool /opt/app/victim
install_tool /opt/app/victim2
echo data > /opt/app/data.txt
in-container sh -s <<'WORKLOAD'
try truncate_rc truncate -s 0 /opt/app/victim
try plain_rc truncate -s 0 /opt/app/data.txt
try redirect_rc sh -c ': > /opt/app/victim2'
WORKLOAD
echo victim_size=$(stat -c %s /opt/app/victim)
echo victim2_size=$(stat -c %s /opt/app/victim2)
