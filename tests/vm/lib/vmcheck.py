"""Assertions over one tools/vm-run result directory (events.ndjson, script.log, script.rc, ...).

A scenario's check.py does:
    from vmcheck import Run
    r = Run.from_argv()                      # result DIR is argv[1]
    r.expect_kv("create_rc", "0")            # `create_rc=0` printed by the guest script
    r.expect_doc("drift alert for /x", alert=True, **{"event.action": "creation", "file.path": "/x"})
    r.finish()                               # prints every failure (expected vs found, DIR) and exits 1 if any

Documents may use nested objects or dotted keys ("event.action"); both are looked up. A criterion value is
matched as: a list/tuple -> the field equals one of them; a callable -> called with the field;
otherwise equality, except that when the field is a list the value must be a member of it.
"""
import json
import os
import sys

MISSING = object()

ALERTS = "cloud_defend.alerts"
FILE_LOG = "cloud_defend.file"
PROCESS_LOG = "cloud_defend.process"


def field(doc, dotted):
    """Value at a dotted path, trying nested objects, flat dotted keys and mixes of both."""
    if dotted in doc:
        return doc[dotted]
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head, rest = ".".join(parts[:i]), ".".join(parts[i:])
        if head in doc and isinstance(doc[head], dict):
            value = field(doc[head], rest)
            if value is not MISSING:
                return value
    return MISSING


def matches(value, want):
    if value is MISSING:
        return want is None
    if callable(want):
        try:
            return bool(want(value))
        except Exception:
            return False
    if isinstance(want, (list, tuple, set)):
        return any(matches(value, w) for w in want)
    if isinstance(value, list):
        return want in value
    return value == want


def contains(sub):
    """Criterion: the field (a string) contains `sub`."""
    return lambda v: isinstance(v, str) and sub in v


def has_all(*names):
    """Criterion: the field (a list) contains every one of `names`."""
    return lambda v: isinstance(v, list) and all(n in v for n in names)


class Run:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.failures = []
        self.passed = 0
        self.docs = []
        self.bad_lines = []
        path = os.path.join(self.dir, "events.ndjson")
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        doc = json.loads(line)
                        if isinstance(doc, dict):
                            self.docs.append(doc)
                        else:
                            self.bad_lines.append((n, line[:200]))
                    except ValueError as e:
                        self.bad_lines.append((n, "%s: %s" % (e, line[:200])))
        else:
            self.fail("events.ndjson exists", "no %s" % path)
        self.script_log = self._read("script.log")
        self.script_rc = self._read("script.rc").strip()
        self.kv = {}
        for line in self.script_log.splitlines():
            for word in line.split():
                if "=" in word:
                    key, _, value = word.partition("=")
                    if key and key.replace("_", "").replace("-", "").isalnum():
                        self.kv[key] = value
        if self.bad_lines:
            self.fail("every line of events.ndjson is one JSON object",
                      "%d bad line(s), first: line %d: %s" % (len(self.bad_lines), *self.bad_lines[0]))

    @classmethod
    def from_argv(cls):
        if len(sys.argv) != 2:
            sys.exit("usage: check.py RESULT_DIR")
        return cls(sys.argv[1])

    def _read(self, name):
        try:
            with open(os.path.join(self.dir, name), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- recording -------------------------------------------------------------------------------------
    def fail(self, expected, found):
        self.failures.append((expected, str(found)))

    def check(self, ok, expected, found):
        if ok:
            self.passed += 1
        else:
            self.fail(expected, found)
        return ok

    # -- script results ----------------------------------------------------------------------------------
    def expect_kv(self, key, want, why=""):
        """The script printed `key=<value>` and the value matches `want` (see `matches`)."""
        got = self.kv.get(key, MISSING)
        desc = "script printed %s=%s%s" % (key, want if not callable(want) else "<predicate>",
                                           " (%s)" % why if why else "")
        return self.check(got is not MISSING and matches(got, want), desc,
                          "%s=%s" % (key, got) if got is not MISSING else "no '%s=' in script.log" % key)

    def expect_log(self, text, why=""):
        """script.log contains `text` (e.g. the shell's 'Permission denied')."""
        return self.check(text in self.script_log, "script.log contains %r%s" % (text, " (%s)" % why if why else ""),
                          "script.log:\n" + _indent(self.script_log[-1500:]))

    def expect_script_rc(self, want="0"):
        return self.check(self.script_rc == want, "script.rc == %s" % want, "script.rc == %r" % self.script_rc)

    # -- documents -------------------------------------------------------------------------------------
    def find(self, alert=None, denied=None, **criteria):
        """Documents matching every criterion. alert=True: in cloud_defend.alerts with event.kind alert;
        alert=False: in a log stream with event.kind event. denied=True/False: event.type has/lacks denied."""
        crit = {k.replace("__", "."): v for k, v in criteria.items()}
        out = []
        for doc in self.docs:
            if alert is True and not (matches(field(doc, "data_stream.dataset"), ALERTS)
                                      and matches(field(doc, "event.kind"), "alert")):
                continue
            if alert is False and not (matches(field(doc, "data_stream.dataset"), (FILE_LOG, PROCESS_LOG))
                                       and matches(field(doc, "event.kind"), "event")):
                continue
            if denied is not None:
                is_denied = matches(field(doc, "event.type"), "denied")
                if is_denied != denied:
                    continue
            if all(matches(field(doc, k), v) for k, v in crit.items()):
                out.append(doc)
        return out

    def expect_doc(self, desc, count=None, **kwargs):
        """At least one document (or exactly `count`) matches; on failure shows the closest candidates."""
        found = self.find(**kwargs)
        ok = len(found) >= 1 if count is None else len(found) == count
        if ok:
            self.passed += 1
            return found
        want = ("exactly %d" % count) if count is not None else "a"
        self.fail("%s document: %s [%s]" % (want, desc, _describe(kwargs)),
                  "%d matching; %s" % (len(found), self._near(kwargs)))
        return found

    def expect_no_doc(self, desc, **kwargs):
        found = self.find(**kwargs)
        return self.check(not found, "no document: %s [%s]" % (desc, _describe(kwargs)),
                          "%d matching, first: %s" % (len(found), _short(found[0]) if found else ""))

    def _near(self, kwargs):
        """Documents about the same path / executable, to make a failure readable."""
        keys = [k for k in ("file.path", "process.executable", "process.name") if k in
                {x.replace("__", "."): 1 for x in kwargs}]
        crit = {k.replace("__", "."): v for k, v in kwargs.items()}
        near = [d for d in self.docs if keys and any(matches(field(d, k), crit[k]) for k in keys)]
        if near:
            return "documents about the same target:\n" + "\n".join(_indent(_short(d)) for d in near[:6])
        return "%d documents in events.ndjson, none about that target%s" % (
            len(self.docs), ("; first: " + _short(self.docs[0])) if self.docs else "")

    def finish(self):
        name = os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0])))
        if self.failures:
            print("%s: %d check(s) FAILED, %d passed (results: %s)" % (name, len(self.failures), self.passed, self.dir))
            for expected, found in self.failures:
                print("  expected: %s" % expected)
                print("  found:    %s" % found.replace("\n", "\n            "))
            sys.exit(1)
        print("%s: all %d checks passed (%d documents)" % (name, self.passed, len(self.docs)))
        sys.exit(0)


SUMMARY_FIELDS = ("data_stream.dataset", "event.kind", "event.category", "event.action", "event.type",
                  "file.path", "process.executable", "process.name", "cloud_defend.matched_selectors",
                  "container.id")


def _short(doc):
    parts = []
    for k in SUMMARY_FIELDS:
        v = field(doc, k)
        if v is not MISSING:
            parts.append("%s=%s" % (k, json.dumps(v)))
    return "{" + ", ".join(parts) + "}"


def _describe(kwargs):
    return ", ".join("%s=%s" % (k.replace("__", "."), "<predicate>" if callable(v) else json.dumps(v, default=str))
                     for k, v in kwargs.items() if v is not None)


def _indent(text):
    return "    " + text.replace("\n", "\n    ")
