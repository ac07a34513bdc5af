import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID, MODIFY_ACTIONS

r = Run.from_argv()
r.expect_kv("truncate_rc", "0"); r.expect_kv("plain_rc", "0"); r.expect_kv("victim_size", "0")
r.expect_doc("modifyExecutable alert for the truncated executable", alert=True, denied=False,
             **{"event.category": "file", "event.action": MODIFY_ACTIONS, "event.type": "change", "file.path": "/opt/app/victim",
                "cloud_defend.matched_selectors": has_all("executableChanges"), "container.id": CONTAINER_ID})
# open(O_TRUNC) of an executable: one operation, one alert (6.1 also calls path_truncate for it).
r.expect_kv("redirect_rc", "0"); r.expect_kv("victim2_size", "0")
r.expect_doc("exactly one alert for the O_TRUNC open of an executable", count=1, alert=True,
             **{"file.path": "/opt/app/victim2", "container.id": CONTAINER_ID})
r.expect_no_doc("alert for truncating a plain file", alert=True, **{"file.path": "/opt/app/data.txt"})
# A decided O_TRUNC open that then failed (ETXTBSY: the file was running) must not spare a later
# truncate(2) of the same file by the same task: two operations, two alerts (the open's, the truncate's).
r.expect_kv("later_open_errno", "ETXTBSY"); r.expect_kv("later_truncate_rc", "0")
r.expect_kv("victim3_size", "0")
r.expect_doc("an alert for the O_TRUNC open and one for the later truncate(2)", count=2, alert=True,
             **{"file.path": "/opt/app/victim3", "container.id": CONTAINER_ID})
r.finish()
