# Containers outside Kubernetes are protected from their first exec too: the kernel makes a cgroup a
# container in its mkdir when the runtime's name says so (docker-/cri-containerd-/crio-/libpod-<64 hex>
# .scope, Docker's cgroupfs /docker/<64 hex>), while the agent cannot react (SIGSTOPped). Look-alike
# names stay host cgroups, and their execs run (scope containers).
install_tool /opt/app/uname
HEX=5eed00000000000000000000000000000000000000000000000000000000
agent=$(pidof defend)
echo agent_found=$([ -n "$agent" ] && echo 1 || echo 0)
kill -STOP $agent
# run NAME CGROUP: the first exec of a fresh cgroup
run() {
    mkdir -p "/sys/fs/cgroup/$2" || { echo "$1=mkdir-failed"; return; }
    sh -c 'echo $$ > "/sys/fs/cgroup/$1/cgroup.procs" && exec try "$2" /opt/app/uname' - "$2" "$1"
}
mkdir -p /sys/fs/cgroup/system.slice
run docker_rc system.slice/docker-${HEX}0001.scope
run containerd_rc system.slice/cri-containerd-${HEX}0002.scope
run crio_rc system.slice/crio-${HEX}0003.scope
run podman_rc machine.slice/libpod-${HEX}0004.scope
run docker_fs_rc docker/${HEX}0005
run short_id_rc system.slice/docker-${HEX}006.scope
run upper_hex_rc system.slice/docker-5EED00000000000000000000000000000000000000000000000000000000007.scope
run conmon_rc system.slice/crio-conmon-${HEX}0008.scope
run other_rc system.slice/other-${HEX}0009.scope
run bare_id_rc notdocker/${HEX}000a
kill -CONT $agent
sleep 1
try host_rc /opt/app/uname
