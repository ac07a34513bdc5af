import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("phase1_rc", "0", "log-only policy allows")
r.expect_kv("reloaded", "0", "agent logged 'policy reloaded'")
r.expect_kv("phase2_rc", lambda v: v != "0", "blocking policy after reload refuses")
r.expect_kv("phase2_exists", "1")
r.expect_kv("rejected", "0", "agent logged that the invalid policy was rejected")
r.expect_kv("phase3_rc", lambda v: v != "0", "the blocking policy stays in force after a bad reload")
r.expect_kv("phase3_exists", "1")
r.expect_doc("log document for phase1 (before reload)", alert=False,
             **{"event.action": "creation", "file.path": "/etc/phase1", "container.id": CONTAINER_ID})
r.expect_no_doc("alert for phase1 (before reload)", alert=True, **{"file.path": "/etc/phase1"})
for path in ("/etc/phase2", "/etc/phase3"):
    r.expect_doc("denied alert for %s" % path, alert=True, denied=True,
                 **{"event.action": "creation", "file.path": path,
                    "cloud_defend.matched_selectors": has_all("etcChanges"), "container.id": CONTAINER_ID})
r.finish()
