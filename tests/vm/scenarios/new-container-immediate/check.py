import os, sys
sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..", "..", "lib"), os.path.join(os.path.dirname(__file__), "..")]
from vmcheck import Run

r = Run.from_argv()
r.expect_kv("created", "10")
found = {}
for d in r.find(alert=True, **{"event.action": "creation"}):
    found[d.get("file", {}).get("path")] = d.get("container", {}).get("id")
missing = []
for i in range(10):
    path, cid = "/tmp/work/new%d" % i, "ab%062d" % i
    if found.get(path) != cid:
        missing.append(path)
r.check(not missing, "a drift alert (with its container.id) for each of /tmp/work/new0..9",
        "%d of 10 missing: %s" % (len(missing), " ".join(missing)))
r.finish()
