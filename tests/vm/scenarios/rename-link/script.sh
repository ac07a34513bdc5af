# A rename and a hard link that produce executables under /srv (the source lives outside /srv).
install_tool /var/tmp/stage/a.bin
install_tool /var/tmp/stage/b.bin
mkdir -p /srv
in-container sh -s <<'WORKLOAD'
try rename_rc mv /var/tmp/stage/a.bin /srv/renamed
try link_rc ln /var/tmp/stage/b.bin /srv/linked
try plainrename_rc sh -c 'echo text > /var/tmp/stage/p.txt && mv /var/tmp/stage/p.txt /srv/plain.txt'
WORKLOAD
test -x /srv/renamed; echo renamed_x=$?
test -x /srv/linked; echo linked_x=$?
