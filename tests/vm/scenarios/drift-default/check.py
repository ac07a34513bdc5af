import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID, MODIFY_ACTIONS

r = Run.from_argv()
for key in ("create_rc", "plain_rc", "chmod_rc", "modify_rc", "plainfile_rc", "exec_rc"):
    r.expect_kv(key, "0", "allowed: the default policy only alerts")
r.expect_kv("trueexe_x", "0"); r.expect_kv("toolsh_x", "0"); r.expect_kv("modified", "0")
sel = has_all("executableChanges")
r.expect_doc("createExecutable alert for a new file created with +x", alert=True, denied=False,
             **{"event.category": "file", "event.action": "creation", "event.type": "creation", "file.path": "/tmp/work/true",
                "cloud_defend.matched_selectors": sel, "container.id": CONTAINER_ID})
r.expect_doc("createExecutable alert for chmod +x of an existing file", alert=True, denied=False,
             **{"event.category": "file", "event.action": "modification", "event.type": "creation",
                "file.path": "/tmp/work/tool.sh", "cloud_defend.matched_selectors": sel,
                "container.id": CONTAINER_ID})
r.expect_doc("modifyExecutable alert for a write-open of an existing executable", alert=True, denied=False,
             **{"event.category": "file", "event.action": MODIFY_ACTIONS, "event.type": "change", "file.path": "/opt/app/tool",
                "cloud_defend.matched_selectors": sel, "container.id": CONTAINER_ID})
r.expect_no_doc("alert for a plain (non-executable) file", alert=True, **{"file.path": "/tmp/work/notes.txt"})
r.expect_doc("exec log document for the new executable (allProcesses: log)", alert=False,
             **{"event.category": "process", "event.action": "exec", "process.executable": "/tmp/work/true",
                "data_stream.dataset": "cloud_defend.process", "container.id": CONTAINER_ID})
r.finish()
