# createFile / modifyFile / deleteFile under /etc are refused; reads and writes elsewhere are not.
before_hostname=$(md5sum /etc/hostname | cut -d' ' -f1)
in-container sh -s <<'WORKLOAD'
try create_rc sh -c 'echo x > /etc/newfile'
try modify_rc sh -c 'echo extra >> /etc/hostname'
try delete_rc rm -f /etc/hosts
try read_rc cat /etc/hostname
try outside_rc sh -c 'echo fine > /tmp/work/outside.txt'
WORKLOAD
test -e /etc/newfile; echo newfile_exists=$?
test "$(md5sum /etc/hostname | cut -d' ' -f1)" = "$before_hostname"; echo hostname_unchanged=$?
test -e /etc/hosts; echo hosts_exists=$?
