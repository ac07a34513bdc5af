import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all

NEW_ID = "feed0000000000000000000000000000000000000000000000000000000000aa"
r = Run.from_argv()
r.expect_kv("agent_found", "1", "the agent was stopped while the container started")
r.expect_kv("first_rc", lambda v: v in ("126", "127", "1", "2"),
            "the new container's first exec was refused although the agent could not react")
r.expect_kv("host_rc", "0", "the host is not a container (scope containers)")
r.expect_doc("denied exec alert from the new container", alert=True, denied=True,
             **{"event.category": "process", "process.executable": "/opt/app/uname",
                "cloud_defend.matched_selectors": has_all("noUname"), "container.id": NEW_ID})
r.finish()
