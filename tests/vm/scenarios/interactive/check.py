import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("tty_rc", "0"); r.expect_kv("notty_rc", "0")
r.expect_kv("ctty", lambda v: v.startswith("/dev/pts/"), "ptyrun gives a real pty")
r.expect_doc("alert for the exec in the interactive session", alert=True,
             **{"event.action": "exec", "process.executable": "/opt/i/true",
                "cloud_defend.matched_selectors": has_all("interactiveExec"), "container.id": CONTAINER_ID})
r.expect_no_doc("alert for the exec in the non-interactive session", alert=True,
                **{"process.executable": "/opt/n/true"})
r.expect_doc("log document for the non-interactive exec", alert=False,
             **{"event.action": "exec", "process.executable": "/opt/n/true",
                "cloud_defend.matched_selectors": has_all("nonInteractiveExec")})
r.expect_no_doc("non-interactive selector matching the interactive exec",
                **{"process.executable": "/opt/i/true", "cloud_defend.matched_selectors": has_all("nonInteractiveExec")})
r.finish()
