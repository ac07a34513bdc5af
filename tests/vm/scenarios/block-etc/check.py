import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID, MODIFY_ACTIONS

r = Run.from_argv()
for key in ("create_rc", "modify_rc", "delete_rc"):
    r.expect_kv(key, lambda v: v != "0", "refused")
r.expect_log("Operation not permitted")
r.expect_kv("read_rc", "0", "reads are not file events"); r.expect_kv("outside_rc", "0")
r.expect_kv("newfile_exists", "1"); r.expect_kv("hostname_unchanged", "0"); r.expect_kv("hosts_exists", "0")
sel = has_all("etcChanges")
for path, action, etype in (("/etc/newfile", "creation", "creation"), ("/etc/hostname", MODIFY_ACTIONS, "change"),
                           ("/etc/hosts", "deletion", "deletion")):
    r.expect_doc("denied %s alert for %s" % (etype, path), alert=True, denied=True,
                 **{"event.category": "file", "event.action": action, "event.type": etype, "file.path": path,
                    "cloud_defend.matched_selectors": sel, "container.id": CONTAINER_ID})
r.expect_no_doc("document for /tmp/work/outside.txt", **{"file.path": "/tmp/work/outside.txt"})
r.finish()
