import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

# --scope containers (default policy): only the container's operations are evaluated.
r = Run.from_argv()
for key in ("host_create_rc", "host_exec_rc", "ctr_create_rc", "ctr_exec_rc"):
    r.expect_kv(key, "0")
r.expect_doc("drift alert for the container's new executable", alert=True,
             **{"event.action": "creation", "file.path": "/tmp/work/ctr-exe", "container.id": CONTAINER_ID})
r.expect_doc("exec log document for the container's exec", alert=False,
             **{"event.action": "exec", "process.executable": "/opt/c/cat", "container.id": CONTAINER_ID})
r.expect_no_doc("document for the host's new executable", **{"file.path": "/tmp/work/host-exe"})
r.expect_no_doc("document for the host's exec", **{"process.executable": "/opt/h/cat"})
# Event documents only: the agent's own heartbeat (metrics stream) is about the node, not a container.
r.expect_no_doc("any event document without container.id",
                **{"container.id": None, "data_stream.dataset": ("cloud_defend.process", "cloud_defend.file",
                                                                 "cloud_defend.alerts")})
r.finish()
