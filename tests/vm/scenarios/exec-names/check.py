import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

refused = lambda v: v != "0"
r = Run.from_argv()
r.expect_kv("agent_ready", "0")
for key, why in [("link_rc", "a hard link to an exec-blocked file"),
                 ("link_tree_rc", "a hard link to a file in an exec-blocked tree"),
                 ("mv_rc", "renaming an exec-blocked file away"),
                 ("mv_dir_rc", "moving a directory that is an exec-blocked tree"),
                 ("mv_subdir_rc", "moving a directory inside an exec-blocked tree"),
                 ("mv_parent_rc", "moving the directory holding an exec-blocked file"),
                 ("copy_read_rc", "copying the exec-blocked file (its read is judged as an exec)"),
                 ("copy_rc", "a copy of the same bytes (a new executable: the drift block)"),
                 ("copy_chmod_rc", "copy then chmod +x (the drift block)"),
                 ("copy2_exec_rc", "the non-executable copy cannot run"),
                 ("blocked_rc", "the exec-blocked file itself"),
                 ("sym_exec_rc", "exec through a symlink (judged at the file)")]:
    r.expect_kv(key, refused, why + " is refused")
r.expect_kv("link_sym_rc", "0", "a symlink is only a name pointing at the file (its exec is judged there)")
r.expect_kv("reloaded", "0", "phase 2 policy (with the drift block) loaded")
for key in ["free_link_rc", "free_mv_rc", "free_exec_rc", "free_mvdir_rc"]:
    r.expect_kv(key, "0", "the same operations on a file no exec rule names proceed")
for name in ["lnk", "lnk2", "moved", "tree", "sub", "blk", "copy0", "copy"]:
    r.expect_kv("exists_" + name, "1", "nothing was created by the refused operation")
r.expect_kv("copy2_executable", "1")
r.expect_kv("originals_in_place", "0")
r.expect_kv("agent_stop", "0")
r.expect_doc("denied alert for the hard link, judged as an exec of the file", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/cat",
                "cloud_defend.hook_point": has_all("lsm__path_link"),
                "cloud_defend.matched_selectors": has_all("blockedTools"), "container.id": CONTAINER_ID})
r.expect_doc("denied alert for the rename", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/cat",
                "cloud_defend.hook_point": has_all("lsm__path_rename")})
r.expect_doc("denied alert for moving the directory holding the file", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked",
                "cloud_defend.hook_point": has_all("lsm__path_rename")})
r.expect_doc("denied alert for moving the tree", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/tree",
                "cloud_defend.hook_point": has_all("lsm__path_rename")})
r.expect_doc("denied alert for cp reading the exec-blocked file", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/cat", "process.name": "cp",
                "cloud_defend.hook_point": has_all("lsm__file_open")})
r.expect_doc("denied drift alert for the copy", alert=True, denied=True,
             **{"file.path": "/opt/work/copy", "cloud_defend.matched_selectors": has_all("newExecutables")})
r.expect_no_doc("alert for the free file", alert=True, **{"process.executable": "/opt/free/cat"})
r.expect_no_doc("alert naming the free directory", alert=True, **{"process.executable": "/opt/free"})
r.finish()
