import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run
from common import CONTAINER_ID, POD_UID

# The script starts the agent itself (no-agent marker), after the container's cgroup exists.
r = Run.from_argv()
r.expect_kv("preexisting", "/kubepods/besteffort/pod%s/%s" % (POD_UID, CONTAINER_ID))
r.expect_kv("agent_ready", "0"); r.expect_kv("agent_stop", "0"); r.expect_kv("create_rc", "0")
r.expect_doc("drift alert for the pre-existing container (scope containers)", alert=True,
             **{"event.action": "creation", "file.path": "/tmp/work/late", "container.id": CONTAINER_ID})
r.finish()
