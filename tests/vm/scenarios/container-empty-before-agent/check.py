import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run

EMPTY_ID = "e0" * 32
r = Run.from_argv()
r.expect_kv("procs_before", "0", "the cgroup was empty when the agent started")
r.expect_kv("agent_ready", "0"); r.expect_kv("agent_stop", "0"); r.expect_kv("create_rc", "0")
r.expect_doc("drift alert in a container whose cgroup existed (empty) before the agent started", alert=True,
             **{"event.action": "creation", "file.path": "/tmp/work/late-empty", "container.id": EMPTY_ID})
r.finish()
