import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("execs_done", "300"); r.expect_kv("files_done", "100")
r.expect_doc("one exec log document per run of /opt/burst/true", count=300, alert=False,
             **{"event.action": "exec", "process.executable": "/opt/burst/true", "container.id": CONTAINER_ID})
paths = {"/tmp/work/exe%d" % i for i in range(100)}
got = {d.get("file", {}).get("path") for d in r.find(alert=True, **{"event.action": "creation"})}
r.check(paths <= got, "a drift alert for each of /tmp/work/exe0..99",
        "missing: %s" % sorted(paths - got)[:10])
agent_log = open(os.path.join(r.dir, "agent.log")).read()
r.check("kernel_lost=0" in agent_log and "output_dropped=0" in agent_log,
        "agent reports kernel_lost=0 and output_dropped=0 at exit",
        [l for l in agent_log.splitlines() if "stopping" in l][-1:] or agent_log[-300:])
r.finish()
