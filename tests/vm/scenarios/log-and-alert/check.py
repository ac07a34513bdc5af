import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("tool_rc", "0"); r.expect_kv("other_rc", "0")
both = ["allExecs", "toolExecs"]
r.expect_doc("exactly one alert for /opt/tools/cat listing both selectors in declaration order", count=1, alert=True,
             **{"event.action": "exec", "process.executable": "/opt/tools/cat",
                "cloud_defend.matched_selectors": lambda v: v == both, "container.id": CONTAINER_ID})
r.expect_doc("exactly one process log document for /opt/tools/cat", count=1, alert=False,
             **{"event.action": "exec", "process.executable": "/opt/tools/cat",
                "data_stream.dataset": "cloud_defend.process", "cloud_defend.matched_selectors": lambda v: v == both})
r.expect_doc("log document for /opt/other/cat", count=1, alert=False,
             **{"event.action": "exec", "process.executable": "/opt/other/cat",
                "cloud_defend.matched_selectors": lambda v: v == ["allExecs"]})
r.expect_no_doc("alert for /opt/other/cat", alert=True, **{"process.executable": "/opt/other/cat"})
r.finish()
