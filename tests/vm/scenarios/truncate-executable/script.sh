# Truncating an existing executable is modifyExecutable (default policy: alert); a plain file is not.
install_tool /opt/app/victim
install_tool /opt/app/victim2
echo data > /opt/app/data.txt
# A copy of trunclater: an O_TRUNC open of it while it runs fails after file_open decided it.
mkdir -p /opt/app && cp /bin/trunclater /opt/app/victim3 && chmod 0755 /opt/app/victim3
in-container sh -s <<'WORKLOAD'
try truncate_rc truncate -s 0 /opt/app/victim
try plain_rc truncate -s 0 /opt/app/data.txt
try redirect_rc sh -c ': > /opt/app/victim2'
trunclater /opt/app/victim3
WORKLOAD
echo victim_size=$(stat -c %s /opt/app/victim)
echo victim2_size=$(stat -c %s /opt/app/victim2)
echo victim3_size=$(stat -c %s /opt/app/victim3)
