# A container whose root filesystem is an overlay (as containerd's overlayfs snapshotter mounts it):
# an image layer below, a writable layer above. overlayfs opens the layers' files itself (the real
# file behind every open of an overlay file, and copy-up's opens of the lower and upper files),
# with its own credentials and on private mounts that no task can name. Those opens are not the
# workload's: only its own operations, at their overlay names, may be judged, once each.
# As runc does, the workload gets a mount namespace of its own in which the layers' filesystem is
# not mounted (the overlay moved to /ctr, /ovl detached): there a layer's file has no name at all.
insmod /modules/overlay.ko; echo insmod_rc=$?
mkdir -p /ovl && mount -t tmpfs tmpfs /ovl
lower=/ovl/lower
mkdir -p $lower/bin $lower/etc $lower/tmp $lower/data $lower/var/log $lower/usr/local/bin /ovl/upper /ovl/work /ovl/merged
cp /bin/busybox $lower/bin/busybox
for a in sh cat echo rm mv cp ln chmod true; do ln -s busybox $lower/bin/$a; done
if [ -e /bin/dyntrue ]; then
    mkdir -p $lower/lib64 $lower/lib/x86_64-linux-gnu
    cp /lib64/ld-linux-x86-64.so.2 $lower/lib64/ && cp /lib/x86_64-linux-gnu/libc.so.6 $lower/lib/x86_64-linux-gnu/
    cp /bin/dyntrue $lower/bin/dyntrue
fi
echo 'root:x:0:0:root:/:/bin/sh' > $lower/etc/passwd
install_tool $lower/usr/local/bin/cat
install_tool $lower/usr/local/sbin/true
printf '#!/bin/sh\necho ran > /tmp/ran\n' > $lower/usr/local/sbin/run.sh && chmod 0755 $lower/usr/local/sbin/run.sh
echo keep > $lower/data/keep
echo trunc > $lower/data/trunc
echo start > $lower/var/log/app.log
mount -t overlay overlay -o lowerdir=$lower,upperdir=/ovl/upper,workdir=/ovl/work /ovl/merged; echo overlay_rc=$?
if defend-start /out/events.ndjson /out/agent.log --scope containers --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
mkdir -p /ctr
in-container unshare -m --propagation private sh -c 'mount -o move /ovl/merged /ctr && umount -l /ovl && exec chroot /ctr /bin/sh -s' <<'WORKLOAD'
echo new > /tmp/new; echo new_file_rc=$?
echo more >> /data/keep; echo copy_up_append_rc=$?
: > /data/trunc; echo copy_up_truncate_rc=$?
echo line >> /var/log/app.log; echo alert_only_append_rc=$?
cat /usr/local/bin/cat > /tmp/cat-copy; echo read_executable_rc=$?
/usr/local/bin/cat /etc/passwd > /tmp/passwd-copy; echo exec_tool_rc=$?
if [ -e /bin/dyntrue ]; then /bin/dyntrue; echo dynamic_exec_rc=$?; else echo dynamic_exec_rc=0; fi
echo 'evil::0:0::/:/bin/sh' >> /etc/passwd; echo etc_append_rc=$?
/usr/local/sbin/true; echo exec_forbidden_rc=$?
sh /usr/local/sbin/run.sh; echo interpret_forbidden_rc=$?
WORKLOAD
grep -qx more /ovl/upper/data/keep; echo copied_up=$?
grep -q evil /ovl/merged/etc/passwd; echo passwd_changed=$?
test -e /ovl/merged/tmp/ran; echo script_ran=$?
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
