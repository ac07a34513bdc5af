#!/usr/bin/env bash
# Installs the Debian packages Defend needs to build, run and test (only those missing).
#   build: libbpf-dev bpftool libelf-dev zlib1g-dev (clang with the BPF target comes with Swift)
#   VM tests: qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio, python3 (scenario checks),
#             libc6-dev (static guest helpers), binutils (strip)
#   container tests: containerd runc;  benchmark comparison: auditd
set -euo pipefail
packages=(libbpf-dev bpftool libelf-dev zlib1g-dev qemu-system-x86 linux-image-cloud-amd64 busybox-static
          cpio containerd runc auditd util-linux procps python3 libc6-dev binutils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    if [ "$(id -u)" != 0 ]; then echo "setup: must run as root to install packages" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# auditd's package starts nothing here (no systemd); make sure it does not linger from a previous run.
exit 0
