import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

refused = lambda v: v != "0"
present = lambda v: v is not None
r = Run.from_argv()
for k in ["insmod_rc", "overlay_rc", "agent_ready"]:
    r.expect_kv(k, "0")
for k, why in [("new_file_rc", "a new file in the writable layer (outside /etc)"),
               ("copy_up_append_rc", "an append that copies an image file up"),
               ("copy_up_truncate_rc", "a truncation that copies an image file up"),
               ("alert_only_append_rc", "an append under an alert-only rule"),
               ("read_executable_rc", "a read of an executable that no block names"),
               ("exec_tool_rc", "an exec that no block names"),
               ("dynamic_exec_rc", "a dynamic program (ld.so reads and maps libc from the image)")]:
    r.expect_kv(k, "0", why + " is allowed")
for k, why in [("etc_append_rc", "an append to the image's /etc/passwd"),
               
               ("interpret_forbidden_rc", "the blocked tool given to sh")]:
    r.expect_kv(k, refused, why + " is refused")
r.expect_kv("exec_forbidden_rc", "126", "an exec of the blocked program is refused")
r.expect_kv("copied_up", "0")
r.expect_kv("passwd_changed", "1")
r.expect_kv("script_ran", "1", "the blocked script did not run")
r.expect_kv("agent_stop", "0")
r.expect_doc("one denied open alert for the /etc/passwd append", count=1, alert=True, denied=True,
             **{"file.path": "/ctr/etc/passwd", "container.id": CONTAINER_ID, "event.action": "open"})
r.expect_doc("one open alert (not two) for the append under the alert-only rule", count=1, alert=True,
             **{"file.path": "/ctr/var/log/app.log", "cloud_defend.matched_selectors": has_all("appLogs"),
                "event.action": "open"})
r.expect_doc("one denied exec alert for the blocked tool", count=1, alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/ctr/usr/local/sbin/true",
                "cloud_defend.hook_point": has_all("lsm__bprm_check_security")})
r.expect_doc("one denied exec alert for the blocked tool read by sh", count=1, alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/ctr/usr/local/sbin/run.sh",
                "process.name": "sh", "cloud_defend.hook_point": has_all("lsm__file_open")})
r.expect_no_doc("a document for a layer's file (an unresolved path)", **{"cloud_defend.unresolved": present})
r.expect_no_doc("a denied file alert other than /etc/passwd", alert=True, denied=True,
                **{"event.category": "file", "file.path": lambda v: v != "/ctr/etc/passwd"})
r.finish()
