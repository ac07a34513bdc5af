import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
for key in ("rename_rc", "link_rc", "plainrename_rc", "renamed_x", "linked_x"):
    r.expect_kv(key, "0")
sel = has_all("executableChanges")
r.expect_doc("createExecutable alert for the rename target", alert=True, denied=False,
             **{"event.category": "file", "event.action": "rename", "file.path": "/srv/renamed",
                "cloud_defend.matched_selectors": sel, "container.id": CONTAINER_ID})
r.expect_doc("createExecutable alert for the link target", alert=True, denied=False,
             **{"event.category": "file", "event.action": "link", "file.path": "/srv/linked",
                "cloud_defend.matched_selectors": sel, "container.id": CONTAINER_ID})
r.expect_no_doc("alert for renaming a non-executable", alert=True, **{"file.path": "/srv/plain.txt"})
r.finish()
