# Sourced by scenario scripts in the guest (tools/vm-test prepends it to script.sh).
CONTAINER_ID=c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789
POD_UID=11111111-2222-3333-4444-555555555555
export CONTAINER_ID POD_UID
# busybox copies under a path of their own, so that exec/file selectors can name them precisely
# (a copy named after an applet runs that applet).
install_tool() { mkdir -p "$(dirname "$1")" && cp /bin/busybox "$1" && chmod 0755 "$1"; }
