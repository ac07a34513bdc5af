import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("agent_ready", "0")
for k in ("bind_cm", "bind_ed", "bind_file", "bind_again", "bind_sub", "shm"):
    r.expect_kv(k, "0", "the layout is made (by root, before the agent)")
allowed = {
    "ed_exe_rc": "an executable created on the emptyDir volume (ignoreVolumeMounts)",
    "ed_again_rc": "an executable created through a second mount of the same volume root",
    "cm_exe_rc": "an executable created on the configMap volume (a file volume is a volume too)",
    "ed_chmod_rc": "chmod +x on the emptyDir volume",
    "ed_rename_rc": "an executable renamed within the emptyDir volume",
    "cm_write_rc": "writes on the configMap volume",
    "file_write_rc": "a write to the mounted file",
    "ed_write_rc": "a write on the emptyDir volume (alerted, not blocked)",
    "shm_write_rc": "a write on /dev/shm (alerted, not blocked)",
}
for k, why in allowed.items():
    r.expect_kv(k, "0", why + " is allowed")
refused = {
    "shm_exe_rc": "an executable dropped in /dev/shm (a runtime tmpfs, not a volume)",
    "shm_chmod_rc": "chmod +x in /dev/shm",
    "shm_rename_rc": "an executable renamed within /dev/shm (a rename is judged on the mount it is on)",
    "sub_exe_rc": "an executable created on a mount of a volume's subdirectory that no spec lists",
    "host_exe_rc": "an executable created in the volume's directory through the root mount",
    "move_off_rc": "an executable moved off the volume onto /dev/shm",
}
for k, why in refused.items():
    r.expect_kv(k, lambda v: v != "0", why + " is refused")
r.expect_kv("shm_tool_exists", "1"); r.expect_kv("shm_renamed_exists", "1"); r.expect_kv("shm_pre_exists", "0")
r.expect_kv("moved_exists", "1"); r.expect_kv("ed_tool_exists", "0", "the refused move left the source")
r.expect_kv("ed_script_exec", "0"); r.expect_kv("shm_script_exec", "1")
r.expect_kv("classified_lines", lambda v: int(v) >= 3, "the agent logged its classification of the spec's mounts")
drift = has_all("driftOffVolumes")
for path in ("/dev/shm/tool", "/dev/shm/script", "/dev/shm/pre-renamed", "/srv/cache-sub/tool", "/dev/shm/moved",
             "/var/lib/kubelet/pods/11111111-2222-3333-4444-555555555555/volumes/kubernetes.io~empty-dir/cache/direct"):
    r.expect_doc("denied drift alert for " + path, alert=True, denied=True,
                 **{"file.path": path, "cloud_defend.matched_selectors": drift, "container.id": CONTAINER_ID})
# In the guest the volumes are directories of the root filesystem, so a document names a file on them by
# its name from the root mount (README "Bind mounts"): /srv/cache/x is .../kubernetes.io~empty-dir/cache/x.
ED = "/var/lib/kubelet/pods/11111111-2222-3333-4444-555555555555/volumes/kubernetes.io~empty-dir/cache/"
CM = "/var/lib/kubelet/pods/11111111-2222-3333-4444-555555555555/volumes/kubernetes.io~configmap/app-config/"
r.expect_doc("change alert on the emptyDir volume (not a file mount)", alert=True, denied=False,
             **{"file.path": lambda p: p in ("/srv/cache/data.txt", ED + "data.txt"),
                "cloud_defend.matched_selectors": has_all("changesOffFileMounts")})
r.expect_doc("change alert on /dev/shm", alert=True, denied=False,
             **{"file.path": "/dev/shm/data.txt", "cloud_defend.matched_selectors": has_all("changesOffFileMounts")})
r.expect_no_doc("any document on the configMap volume or the mounted file",
                **{"file.path": lambda p: p.startswith("/srv/config/") or p.startswith(CM) or p in ("/srv/hosts",) or p.endswith("/etc-hosts")})
on_volume = [d + n for d in ("/srv/cache/", "/srv/cache-again/", ED) for n in ("tool", "tool2", "script", "pre", "pre-renamed")]
r.expect_no_doc("a drift document for what was made on the emptyDir volume",
                **{"file.path": lambda p: p in on_volume, "cloud_defend.matched_selectors": has_all("driftOffVolumes")})
r.expect_no_doc("any document for the executables made or renamed on the volume",
                **{"file.path": lambda p: p in on_volume and not p.endswith("script")})
r.finish()
