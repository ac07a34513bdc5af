# Exec blocking judges what is run, not only the execve: an executable that an exec block names,
# read by an interpreter (`sh file`, `sh < file`, a pipe, `.`, a read-write descriptor) or read to
# be copied, is refused as an exec of it. The same reads of an unblocked script, of a file with no
# execute bit in the blocked tree, of an alert-only tree, and by host processes (scope containers)
# proceed, and dynamic programs (ld.so reading libraries) keep running.
mkdir -p /opt/blocked /opt/free /opt/alerted /opt/work
for d in blocked free alerted; do
    printf '#!/bin/sh\necho "$M" >> /tmp/ran.log\n' > /opt/$d/run.sh; chmod 0755 /opt/$d/run.sh
done
install_tool /opt/blocked/cat
printf 'echo "$M" >> /tmp/ran.log\n' > /opt/blocked/notes.txt; chmod 0644 /opt/blocked/notes.txt
: > /tmp/ran.log
in-container sh -s <<'WORKLOAD'
M=direct try direct_rc /opt/blocked/run.sh
M=sharg try sh_arg_rc sh /opt/blocked/run.sh
M=stdin try stdin_rc sh -c 'sh < /opt/blocked/run.sh'
M=pipe try pipe_cat_rc sh -c 'set -o pipefail; cat /opt/blocked/run.sh | sh'
M=dot try dot_rc sh -c '. /opt/blocked/run.sh'
M=rdwr try rdwr_rc sh -c 'exec 3<>/opt/blocked/run.sh && sh <&3'
try copy_rc cp /opt/blocked/cat /opt/work/copy
M=copied try copy_script_rc sh -c 'cat /opt/blocked/run.sh > /opt/work/s.sh && sh /opt/work/s.sh'
M=notes try notes_rc sh /opt/blocked/notes.txt
M=free try free_rc /opt/free/run.sh
M=freesh try free_sh_rc sh /opt/free/run.sh
try free_copy_rc cp /opt/free/run.sh /opt/work/free-copy
M=alerted try alerted_sh_rc sh /opt/alerted/run.sh
try dyn_rc /bin/dyntrue
WORKLOAD
M=host sh /opt/blocked/run.sh; echo host_sh_rc=$?
cp /opt/blocked/cat /opt/work/host-copy; echo host_copy_rc=$?
for m in direct sharg stdin pipe dot rdwr copied notes free freesh alerted host; do
    grep -qx "$m" /tmp/ran.log; echo "ran_$m=$?"
done
test -e /opt/work/copy; echo exists_copy=$?
test -x /opt/blocked/run.sh && test -x /opt/blocked/cat; echo originals_in_place=$?
usleep 300000
