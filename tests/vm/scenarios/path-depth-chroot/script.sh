# Paths are judged whole, at any depth and length, from the mount namespace's root (not a chroot):
# deep or long paths below a protected tree are refused; the same tree names nested under /tmp are not.
D62=$(printf 'd/%.0s' $(seq 1 62)); D70=$(printf 'd/%.0s' $(seq 1 70))
L250=$(printf 'L%.0s' $(seq 1 250)); M250=$(printf 'M%.0s' $(seq 1 250))
mkdir -p /usr/local/sbin /tmp/y/etc /tmp/y/bin && cp /bin/busybox /usr/local/sbin/busybox && cp /bin/busybox /tmp/y/bin/busybox && echo root:x:0:0::/:/bin/sh > /tmp/y/etc/passwd
mkdir -p "/usr/local/bin/$D62" "/usr/local/bin/$L250/$M250" "/tmp/x/usr/local/bin/$D70" "/tmp/y/etc/$D70"
export D62 D70 L250 M250
in-container sh -s <<'WORKLOAD'
try deep_rc cp /bin/busybox "/usr/local/bin/$D62/tool"
try long_rc cp /bin/busybox "/usr/local/bin/$L250/$M250/tool"
# > PATH_MAX paths are covered by the host test PathAgreementTests: in this TCG guest, `deepmk /usr/local/bin
# dd 2100 ...` (2100 nested mkdirs, each walked to the root) ran into a soft lockup (known issue, see report).
try deep_outside_rc cp /bin/busybox "/tmp/x/usr/local/bin/$D70/tool"
try etc_outside_rc sh -c 'echo x >> "/tmp/y/etc/$D70/file"'
try chroot_bin_rc chroot /usr/local /sbin/busybox cp /sbin/busybox /bin/chrooted
try chroot_etc_rc chroot /tmp/y /bin/busybox sh -c 'echo evil >> /etc/passwd'
try ordinary_rc sh -c 'echo fine > /tmp/work/ordinary.txt && cp /bin/busybox /tmp/work/tool'
WORKLOAD
test -e "/usr/local/bin/$D62/tool"; echo deep_exists=$?
test -e /usr/local/bin/chrooted; echo chrooted_exists=$?
grep -q evil /tmp/y/etc/passwd; echo chroot_etc_written=$?
