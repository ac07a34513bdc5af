import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run, has_all
from common import CONTAINER_ID

r = Run.from_argv()
r.expect_kv("pre_bin_rc", "0"); r.expect_kv("pre_tmp_rc", "0"); r.expect_kv("agent_ready", "0")
r.expect_kv("deep2000_rc", lambda v: v != "0", "an executable 2000 directories below /usr/local/bin (path cut at PATH_MAX) is refused")
r.expect_kv("deep2100_rc", lambda v: v != "0", "an executable 2100 directories below /usr/local/bin (unresolved) is refused fail closed")
r.expect_kv("tmp2000_rc", "0", "the same depth below /tmp is not in the tree")
r.expect_kv("soft_lockups", "0", "no soft lockup")
D = "/usr/local/bin/" + "dd/" * 20
r.expect_doc("denied alert for the cut path, marked truncated", alert=True, denied=True,
             **{"file.path": lambda p: p.startswith(D) and len(p) == 4095, "cloud_defend.truncated": ["file.path"],
                "cloud_defend.matched_selectors": has_all("binChanges"), "container.id": CONTAINER_ID})
r.expect_doc("denied alert for the unresolved path, marked unresolved (never an absolute path)", alert=True, denied=True,
             **{"file.path": lambda p: not p.startswith("/") and p.startswith("dd/"),
                "cloud_defend.unresolved": ["file.path"], "container.id": CONTAINER_ID})
r.expect_no_doc("any document under /tmp/deep", **{"file.path": lambda p: p.startswith("/tmp/deep")})
r.finish()
