import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("memfd_rc", lambda v: v != "0", "a fileless exec is refused while a processExecutable block could apply")
r.expect_kv("file_rc", "0", "an exec of a file is not refused")
r.expect_doc("denied alert for the fileless exec, named by its memfd and marked unresolved", alert=True, denied=True,
             **{"process.executable": lambda p: p != "/" and not p.startswith("/") and "memfd:payload" in p,
                "cloud_defend.unresolved": lambda v: "process.executable" in v, "container.id": CONTAINER_ID})
r.expect_no_doc("an executable reported as '/'", **{"process.executable": "/"})
r.finish()
