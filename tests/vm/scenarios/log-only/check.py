import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID, MODIFY_ACTIONS

r = Run.from_argv()
for key in ("exec_rc", "create_rc", "modify_rc", "delete_rc", "nomatch_exec_rc", "nomatch_file_rc"):
    r.expect_kv(key, "0")
r.expect_no_doc("any alert", alert=True)
r.expect_no_doc("any document in cloud_defend.alerts", **{"data_stream.dataset": "cloud_defend.alerts"})
r.expect_doc("exec log document", alert=False,
             **{"data_stream.dataset": "cloud_defend.process", "event.action": "exec",
                "process.executable": "/opt/app/cat", "cloud_defend.matched_selectors": has_all("appExecs"),
                "container.id": CONTAINER_ID})
for action, etype in (("creation", "creation"), (MODIFY_ACTIONS, "change"), ("deletion", "deletion")):
    r.expect_doc("file %s log document" % etype, alert=False,
                 **{"data_stream.dataset": "cloud_defend.file", "event.action": action, "event.type": etype,
                    "file.path": "/tmp/work/a.txt", "cloud_defend.matched_selectors": has_all("workFiles"),
                    "container.id": CONTAINER_ID})
r.expect_no_doc("document for an exec matching no selector", **{"process.executable": "/opt/other/cat"})
r.expect_no_doc("document for a file matching no selector", **{"file.path": "/var/tmp/nomatch.txt"})
r.finish()
