import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("forker_rc", "1", "forker's forks fail"); r.expect_kv("fork_ok", "0")
r.expect_kv("fork_errno", "1", "EPERM")
r.expect_kv("shell_rc", "0"); r.expect_kv("subshell", "0"); r.expect_kv("pipe_rc", "0")
r.expect_doc("denied fork alert for forker", alert=True, denied=True,
             **{"event.category": "process", "event.action": "fork", "process.name": "forker",
                "cloud_defend.matched_selectors": has_all("noForkForForker"), "container.id": CONTAINER_ID})
r.expect_no_doc("fork alert for a process other than forker", alert=True,
                **{"event.action": "fork", "process.name": lambda n: n != "forker"})
r.finish()
