"""Self-check of vmcheck.py on synthetic results (no VM): lookups in nested and dotted documents,
criteria, and that failures are reported. Run: python3 tests/vm/lib/test_vmcheck.py"""
import io
import json
import os
import sys
import tempfile
import contextlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmcheck import Run, field, matches, has_all, MISSING  # noqa: E402

nested = {"event": {"kind": "alert", "action": "creation", "type": ["creation", "denied"]},
          "data_stream": {"dataset": "cloud_defend.alerts"}, "file": {"path": "/usr/bin/x"},
          "cloud_defend": {"matched_selectors": ["a", "b"]}, "container": {"id": "c1"}}
dotted = {"event.kind": "event", "event.action": "exec", "data_stream.dataset": "cloud_defend.process",
          "process": {"executable": "/bin/true"}}
assert field(nested, "event.action") == "creation"
assert field(dotted, "event.action") == "exec"
assert field(dotted, "process.executable") == "/bin/true"
assert field(nested, "process.executable") is MISSING
assert matches(["creation", "denied"], "denied") and not matches(["creation"], "denied")
assert matches("x", ["y", "x"]) and matches(MISSING, None) and not matches("c1", None)
assert has_all("a")(["a", "b"]) and not has_all("c")(["a", "b"])

with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, "events.ndjson"), "w") as f:
        f.write(json.dumps(nested) + "\n" + json.dumps(dotted) + "\nnot json\n")
    with open(os.path.join(d, "script.log"), "w") as f:
        f.write("sh: can't create /usr/bin/x: Operation not permitted\nblocked_rc=1\nok_rc=0\n")
    with open(os.path.join(d, "script.rc"), "w") as f:
        f.write("0\n")
    r = Run(d)
    assert len(r.docs) == 2 and len(r.failures) == 1, r.failures  # the bad line is a failure
    r.failures.clear()
    assert r.expect_kv("blocked_rc", lambda v: v != "0") and r.expect_kv("ok_rc", "0")
    assert r.find(alert=True, denied=True, **{"file.path": "/usr/bin/x"})
    assert not r.find(alert=False, **{"file.path": "/usr/bin/x"})
    assert r.find(alert=False, **{"process.executable": "/bin/true", "container.id": None})
    assert not r.failures
    assert not r.expect_kv("ok_rc", "1")
    assert not r.expect_doc("missing", alert=True, **{"file.path": "/nowhere"})
    assert not r.expect_no_doc("present", **{"file.path": "/usr/bin/x"})
    assert not r.expect_log("Permission denied")
    assert len(r.failures) == 4
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            r.finish()
        except SystemExit as e:
            assert e.code == 1
        else:
            raise AssertionError("finish() did not exit non-zero")
    assert "expected:" in out.getvalue() and d in out.getvalue()
print("vmcheck self-check: ok")
