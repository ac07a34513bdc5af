import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

refused = lambda v: v != "0"
r = Run.from_argv()
for key, why in [("direct_rc", "the blocked script run directly"),
                 ("sh_arg_rc", "sh FILE"), ("stdin_rc", "sh < FILE"), ("pipe_cat_rc", "cat FILE | sh"),
                 ("dot_rc", ". FILE"), ("rdwr_rc", "a read-write descriptor fed to sh"),
                 ("copy_rc", "copying the blocked program"), ("copy_script_rc", "copying the blocked script")]:
    r.expect_kv(key, refused, why + " is refused")
for m in ["direct", "sharg", "stdin", "pipe", "dot", "rdwr", "copied"]:
    r.expect_kv("ran_" + m, "1", "the blocked script's commands never ran (" + m + ")")
r.expect_kv("exists_copy", "1", "the refused copy was not made")
for key in ["notes_rc", "free_rc", "free_sh_rc", "free_copy_rc", "alerted_sh_rc", "dyn_rc", "host_sh_rc", "host_copy_rc"]:
    r.expect_kv(key, "0", "reads that no exec block covers proceed")
for m in ["notes", "free", "freesh", "alerted", "host"]:
    r.expect_kv("ran_" + m, "0", "the script ran (" + m + ")")
r.expect_kv("originals_in_place", "0")
r.expect_doc("denied exec alert for sh reading the blocked script", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/run.sh", "process.name": "sh",
                "cloud_defend.hook_point": has_all("lsm__file_open"),
                "cloud_defend.matched_selectors": has_all("blockedTools"), "container.id": CONTAINER_ID})
r.expect_doc("denied exec alert for cp reading the blocked program", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/cat", "process.name": "cp",
                "cloud_defend.hook_point": has_all("lsm__file_open"), "container.id": CONTAINER_ID})
r.expect_doc("denied exec alert for the direct exec", alert=True, denied=True,
             **{"event.action": "exec", "process.executable": "/opt/blocked/run.sh",
                "cloud_defend.hook_point": has_all("lsm__bprm_check_security")})
r.expect_no_doc("an alert for the file without an execute bit", alert=True, **{"process.executable": "/opt/blocked/notes.txt"})
r.expect_no_doc("an alert for the free script", alert=True, **{"process.executable": "/opt/free/run.sh"})
r.expect_no_doc("a refusal in the alert-only tree", alert=True, denied=True, **{"process.executable": "/opt/alerted/run.sh"})
r.finish()
