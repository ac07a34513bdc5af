import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("path_rc", lambda v: v in ("126", "127", "1", "2"), "exec refused")
r.expect_kv("name_rc", lambda v: v in ("126", "127", "1", "2"), "exec refused")
r.check("/opt/blocked/cat: Permission denied" in r.script_log
        or "/opt/blocked/cat: Operation not permitted" in r.script_log,
        "the shell reports '/opt/blocked/cat: Permission denied' (or EPERM's message)",
        "script.log:\n" + r.script_log[-1500:])
r.expect_kv("ok_rc", "0", "other executables run"); r.expect_kv("okname_rc", "0")
r.expect_log("defend-vm", "/opt/app/cat printed /etc/hostname")
r.expect_doc("denied exec alert (processExecutable)", alert=True, denied=True,
             **{"event.category": "process", "event.action": "exec", "process.executable": "/opt/blocked/cat",
                "cloud_defend.matched_selectors": has_all("blockedByPath"), "container.id": CONTAINER_ID})
r.expect_doc("denied exec alert (processName)", alert=True, denied=True,
             **{"event.category": "process", "event.action": "exec", "process.executable": "/opt/app/uname",
                "cloud_defend.matched_selectors": has_all("blockedByName"), "container.id": CONTAINER_ID})
r.expect_no_doc("alert for /opt/app/cat", alert=True, **{"process.executable": "/opt/app/cat"})
r.finish()
