import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("blocked_rc", lambda v: v != "0", "cp into /usr/bin refused")
r.expect_log("Operation not permitted", "EPERM reported to the workload")
r.expect_kv("blocked_exists", "1", "blocked file was not created")
r.expect_kv("sub_rc", lambda v: v != "0", "/usr/bin/** covers subdirectories")
r.expect_kv("deep_exists", "1")
r.expect_kv("chmod_rc", lambda v: v != "0", "chmod +x creating an executable in /usr/bin refused")
r.expect_kv("notes_x", "1", "mode unchanged")
for key, why in (("allowed_rc", "excluded path"), ("plain_rc", "createFile is not selected"),
                 ("outside_rc", "/usr/local/bin is outside /usr/bin/**")):
    r.expect_kv(key, "0", why)
r.expect_kv("allowed_x", "0"); r.expect_kv("other_x", "0")
sel = has_all("usrBinExecutables")
r.expect_doc("denied alert for /usr/bin/blocked", alert=True, denied=True,
             **{"event.category": "file", "event.action": "creation", "file.path": "/usr/bin/blocked",
                "cloud_defend.matched_selectors": sel, "container.id": CONTAINER_ID})
r.expect_doc("denied alert for /usr/bin/sub/deep", alert=True, denied=True, **{"file.path": "/usr/bin/sub/deep"})
r.expect_doc("denied alert for chmod +x of /usr/bin/notes.txt", alert=True, denied=True,
             **{"file.path": "/usr/bin/notes.txt", "cloud_defend.matched_selectors": sel})
r.expect_no_doc("any document for the excluded /usr/bin/allowed", **{"file.path": "/usr/bin/allowed"})
r.expect_no_doc("any document for /usr/local/bin/other", **{"file.path": "/usr/local/bin/other"})
r.finish()
