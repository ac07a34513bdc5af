import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("cat_rc", "0"); r.expect_kv("comm", "cat", "the kernel task name after exec of /bin/cat")
r.expect_doc("alert for the exec of /bin/cat matched by processName", alert=True,
             **{"event.action": "exec", "process.args": lambda a: a[:1] == ["/bin/cat"],
                "cloud_defend.matched_selectors": has_all("catByName"), "container.id": CONTAINER_ID})
r.expect_doc("that alert names the process 'cat' (policy processName = kernel task name)", alert=True,
             **{"event.action": "exec", "process.args": lambda a: a[:1] == ["/bin/cat"], "process.name": "cat"})
r.finish()
