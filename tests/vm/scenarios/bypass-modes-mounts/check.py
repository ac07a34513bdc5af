import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("agent_ready", "0")
for k in ("bind_bin", "bind_etc", "bind_work"):
    r.expect_kv(k, "0", "the bind mounts are made (by root, before the workload)")
refused = {
    "acl_bin_rc": "an ACL granting execute bits in /usr/local/bin is a createExecutable",
    "bind_cp_rc": "an executable created through a bind mount of /usr/local/bin",
    "bind_etc_rc": "/etc/passwd written through a bind mount of /etc",
    "bind_exec_rc": "/usr/local/bin/forbidden executed through a bind mount",
    "ldso_rc": "/usr/local/bin/forbidden run by ld.so (its read, no execve)",
    "ldso_noexec_rc": "a file with no execute bit named by the exec block, run by ld.so (mmap, no execve)",
    "exec_rc": "/usr/local/bin/forbidden executed by its name",
}
for k, why in refused.items():
    r.expect_kv(k, lambda v: v != "0", why + " is refused")
for k, why in (("acl_work_rc", "an ACL outside the trees"), ("dyn_ok_rc", "another dynamic program"),
               ("ldso_ok_rc", "another program through ld.so"), ("bind_work_rc", "writes through a bind mount of /tmp/work")):
    r.expect_kv(k, "0", why + " is not refused")
r.expect_kv("bin_plain_exec", "1", "the protected file did not become executable")
r.expect_kv("work_plain_exec", "0", "the ACL outside the trees took effect")
r.expect_kv("dropped_exists", "1")
r.expect_kv("passwd_unchanged", "0")
r.expect_kv("work_tool_exists", "0")
r.expect_doc("denied alert for the ACL", alert=True, denied=True,
             **{"file.path": "/usr/local/bin/plain", "cloud_defend.hook_point": lambda h: h in ("lsm__inode_setxattr", "lsm__inode_set_acl"),
                "container.id": CONTAINER_ID})
r.expect_doc("denied alert for the executable created through the bind mount", alert=True, denied=True,
             **{"file.path": "/usr/local/bin/dropped", "cloud_defend.matched_selectors": has_all("binChanges")})
r.expect_doc("denied alert for /etc/passwd written through the bind mount", alert=True, denied=True,
             **{"file.path": "/etc/passwd", "cloud_defend.matched_selectors": has_all("etcChanges")})
r.expect_doc("denied alert for ld.so reading the exec-blocked program", alert=True, denied=True,
             **{"process.executable": "/usr/local/bin/forbidden", "cloud_defend.hook_point": "lsm__file_open"})
r.expect_doc("denied alert for ld.so mapping the file without an execute bit", alert=True, denied=True,
             **{"process.executable": "/usr/local/bin/noexec-prog", "cloud_defend.hook_point": "lsm__mmap_file"})
r.expect_doc("denied alert for the exec through the bind mount", alert=True, denied=True,
             **{"process.executable": "/usr/local/bin/forbidden", "cloud_defend.hook_point": "lsm__bprm_check_security"})
for what in ("/tmp/work/", "/mnt/w/"):
    r.expect_no_doc("any document under " + what, **{"file.path": lambda p, w=what: p.startswith(w)})
r.finish()
