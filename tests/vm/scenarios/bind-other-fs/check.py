import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

refused = lambda v: v != "0"
r = Run.from_argv()
for k in ["mounts_rc", "binds_rc", "agent_ready"]:
    r.expect_kv(k, "0")
for k, why in [("via_dir_write_rc", "a new file through a bind of a directory of the filesystem"),
               ("via_root_write_rc", "a write through a bind of the filesystem's root"),
               ("via_root_delete_rc", "a deletion through a bind of the filesystem's root"),
               ("via_dir_exec_rc", "the exec-blocked tool through the directory bind"),
               ("via_root_exec_rc", "the exec-blocked tool through the root bind"),
               ("direct_write_rc", "a write under /srv/data itself")]:
    r.expect_kv(k, refused, why + " is refused")
r.expect_kv("other_write_rc", "0", "another filesystem bound the same way is not touched")
r.expect_kv("new_exists", "1")
r.expect_kv("file_unchanged", "0")
r.expect_kv("other_written", "0")
r.expect_kv("agent_stop", "0")
r.expect_doc("denied alert naming the file by its first mount", alert=True, denied=True,
             **{"file.path": "/srv/data/bin/new", "container.id": CONTAINER_ID})
r.expect_doc("denied alert for the write through the root bind", alert=True, denied=True,
             **{"file.path": "/srv/data/file"})
r.expect_doc("denied exec alert naming the tool by its first mount", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/srv/data/bin/cat",
                "cloud_defend.matched_selectors": has_all("forbiddenTool")})
r.expect_no_doc("alert for the other filesystem", alert=True, **{"file.path": "/mnt/o/new"})
r.expect_no_doc("alert for the other filesystem", alert=True, **{"file.path": "/srv/other/new"})
r.finish()
