import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run

r = Run.from_argv()
r.expect_kv("agent_ready", "0")
# the documented limit: not seen, not refused
r.expect_kv("old_fd_rc", "0", "a descriptor opened before the agent is not re-judged (documented limit)")
r.expect_kv("old_fd_written", "0")
# the rule itself holds for every new open
r.expect_kv("new_open_rc", lambda v: v != "0", "a new open of /etc/hostname for writing is refused")
r.expect_kv("new_open_written", "1")
r.expect_doc("denied alert for the new open", alert=True, denied=True, **{"file.path": "/etc/hostname"})
r.finish()
