#!/usr/bin/env bash
# Installs the Debian packages Defend needs, only those missing, for one purpose:
#   scripts/setup.sh run   building and running `defend`: libbpf-dev bpftool libelf-dev zlib1g-dev
#                          (clang with the BPF target comes with the Swift toolchain)
#   scripts/setup.sh test  the above, plus what `make test` and `make bench` use:
#                          VM test bed: qemu-system-x86 busybox-static cpio, python3 (scenario checks); the
#                          guest kernels are fetched by tools/vm/fetch-kernel into .cache/kernels, never installed;
#                          libc6-dev (static guest helpers), binutils (strip); container tests: containerd
#                          runc; benchmark comparison: auditd bpftrace; util-linux procps (setsid, ps in tests); openssl (test CAs)
# Services that newly installed packages ship (containerd, auditd) are neither started nor enabled:
# the tests and benchmarks start private instances and stop them. All output goes to stderr.
set -euo pipefail
exec 1>&2
mode=${1:-run}
run_packages=(libbpf-dev bpftool libelf-dev zlib1g-dev)
test_packages=(qemu-system-x86 busybox-static cpio containerd runc auditd util-linux procps python3
               libc6-dev binutils openssl bpftrace)
case "$mode" in
    run) packages=("${run_packages[@]}") ;;
    test) packages=("${run_packages[@]}" "${test_packages[@]}") ;;
    *) echo "usage: scripts/setup.sh run|test" ; exit 2 ;;
esac

[ "$(uname -m)" = x86_64 ] || { echo "setup: Defend supports x86_64 only (this is $(uname -m))"; exit 1; }
if ! command -v swift >/dev/null; then
    echo "setup: no Swift toolchain on PATH; Defend needs Swift 6.1 or later (https://www.swift.org/install/linux/)"
    exit 1
fi
. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != debian ] || { [ "${VERSION_ID:-}" != 12 ] && [ "${VERSION_ID:-}" != 13 ]; }; then
    echo "setup: warning: Defend is built and tested on Debian 12 and 13; this is ${PRETTY_NAME:-an unknown system}"
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then echo "setup: must run as root to install packages"; exit 1; fi
# Keep maintainer scripts from starting the services of the packages installed now (policy-rc.d
# answers "not allowed" to invoke-rc.d and deb-systemd-invoke); a policy-rc.d already there is kept.
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
fi
trap 'if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# ...and from starting at the next boot (only the services of packages this run installed).
if [ -d /run/systemd/system ]; then
    for p in "${missing[@]}"; do
        case "$p" in containerd|auditd) systemctl disable --now "$p" >/dev/null 2>&1 || true ;; esac
    done
fi
exit 0
