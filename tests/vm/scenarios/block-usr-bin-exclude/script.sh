# Executable creation under /usr/bin is blocked except /usr/bin/allowed (exclude).
in-container sh -s <<'WORKLOAD'
try blocked_rc cp /bin/busybox /usr/bin/blocked
try allowed_rc cp /bin/busybox /usr/bin/allowed
try sub_rc sh -c 'mkdir -p /usr/bin/sub && cp /bin/busybox /usr/bin/sub/deep'
try plain_rc sh -c 'echo notes > /usr/bin/notes.txt'
try chmod_rc chmod +x /usr/bin/notes.txt
try outside_rc cp /bin/busybox /usr/local/bin/other
WORKLOAD
test -e /usr/bin/blocked; echo blocked_exists=$?
test -x /usr/bin/allowed; echo allowed_x=$?
test -e /usr/bin/sub/deep; echo deep_exists=$?
test -x /usr/bin/notes.txt; echo notes_x=$?
test -x /usr/local/bin/other; echo other_x=$?
