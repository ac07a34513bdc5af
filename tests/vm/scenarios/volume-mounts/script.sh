# Volume conditions by mount: a kubelet-like layout (a configMap volume, an emptyDir volume, the pod's
# etc-hosts file) bind-mounted onto paths, a containerd bundle config.json for the container that lists
# them, and a tmpfs at /dev/shm that the spec does not list (a runtime mount). The container's cgroup
# and bundle exist before the agent, so its volumes are in the kernel when the agent is ready.
K=/var/lib/kubelet/pods/$POD_UID
CM=$K/volumes/kubernetes.io~configmap/app-config
ED=$K/volumes/kubernetes.io~empty-dir/cache
mkdir -p "$CM" "$ED/sub" /srv/config /srv/cache /srv/cache-again /srv/cache-sub /dev/shm
echo "key=value" > "$CM/app.conf"
echo "127.0.0.1 localhost" > "$K/etc-hosts"
: > /srv/hosts
mount --bind "$CM" /srv/config; echo bind_cm=$?
mount --bind "$ED" /srv/cache; echo bind_ed=$?
mount --bind "$K/etc-hosts" /srv/hosts; echo bind_file=$?
# the same volume root mounted a second time (what a second container of the pod sees), and a mount of
# a directory inside the volume that no spec lists
mount --bind "$ED" /srv/cache-again; echo bind_again=$?
mount --bind "$ED/sub" /srv/cache-sub; echo bind_sub=$?
mount -t tmpfs tmpfs /dev/shm; echo shm=$?
cp /bin/busybox /dev/shm/pre; chmod 755 /dev/shm/pre
cp /bin/busybox /srv/cache/pre; chmod 755 /srv/cache/pre
B=/run/containerd/io.containerd.runtime.v2.task/k8s.io/$CONTAINER_ID
mkdir -p "$B"
cat > "$B/config.json" <<JSON
{"ociVersion":"1.2.0",
 "annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.image-name":"docker.io/library/busybox:1.36",
                "io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"web","io.kubernetes.cri.sandbox-namespace":"shop",
                "io.kubernetes.cri.sandbox-uid":"$POD_UID"},
 "mounts":[
  {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
  {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
  {"destination":"/dev/shm","type":"bind","source":"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/5f5f/shm","options":["rbind","rprivate","rw"]},
  {"destination":"/srv/config","type":"bind","source":"$CM","options":["rbind","rprivate","rw"]},
  {"destination":"/srv/cache","type":"bind","source":"$ED","options":["rbind","rprivate","rw"]},
  {"destination":"/srv/hosts","type":"bind","source":"$K/etc-hosts","options":["rbind","rprivate","rw"]}
 ]}
JSON
mkdir -p /sys/fs/cgroup/kubepods/besteffort/pod$POD_UID/$CONTAINER_ID
if defend-start /out/events.ndjson /out/agent.log --log-level debug --policy /job/policy.yaml; then echo agent_ready=0; else echo agent_ready=1; exit 1; fi
in-container sh -s <<'WORKLOAD'
K=/var/lib/kubelet/pods/$POD_UID
# drift (ignoreVolumeMounts): executables on the emptyDir and the configMap volume are ignored ...
try ed_exe_rc cp /bin/busybox /srv/cache/tool
try ed_again_rc cp /bin/busybox /srv/cache-again/tool2
try cm_exe_rc cp /bin/busybox /srv/config/tool
try ed_chmod_rc sh -c 'echo x > /srv/cache/script && chmod 755 /srv/cache/script'
try ed_rename_rc mv /srv/cache/pre /srv/cache/pre-renamed
# ... but not on the runtime's tmpfs at /dev/shm, a mount of the volume's subdirectory, or the volume's
# directory reached through the root mount (the host path): no volume mount there
try shm_exe_rc cp /bin/busybox /dev/shm/tool
try shm_chmod_rc sh -c 'echo x > /dev/shm/script && chmod 755 /dev/shm/script'
try shm_rename_rc mv /dev/shm/pre /dev/shm/pre-renamed
try sub_exe_rc cp /bin/busybox /srv/cache-sub/tool
try host_exe_rc cp /bin/busybox "$K/volumes/kubernetes.io~empty-dir/cache/direct"
# moving an executable off the volume onto /dev/shm is a creation there (another mount: a copy)
try move_off_rc mv /srv/cache/tool /dev/shm/moved
# plain changes (ignoreVolumeFiles): the configMap volume and the mounted file are ignored, the
# emptyDir volume (no file mount) and /dev/shm are not
try cm_write_rc sh -c 'echo more >> /srv/config/app.conf && echo new > /srv/config/new.conf'
try file_write_rc sh -c 'echo "10.0.0.1 db" >> /srv/hosts'
try ed_write_rc sh -c 'echo data > /srv/cache/data.txt'
try shm_write_rc sh -c 'echo data > /dev/shm/data.txt'
WORKLOAD
usleep 300000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
test -e /dev/shm/tool; echo shm_tool_exists=$?
test -e /dev/shm/pre-renamed; echo shm_renamed_exists=$?
test -e /dev/shm/pre; echo shm_pre_exists=$?
test -e /dev/shm/moved; echo moved_exists=$?
test -e /srv/cache/tool; echo ed_tool_exists=$?
test -x /srv/cache/script; echo ed_script_exec=$?
test -x /dev/shm/script; echo shm_script_exec=$?
grep -c "is a file mount\|is a volume" /out/agent.log | sed 's/^/classified_lines=/'
