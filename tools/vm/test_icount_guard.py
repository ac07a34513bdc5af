"""Self-check of icount_guard.py: it must pass an unchanged run and fail a regression (run by tools/vm-guard
before it trusts the guard)."""
import icount_guard as g

BASE = {"file": {"none": 27000, "default": 28300, "policy64": 29000, "policy2000": 29100},
        "exec": {"none": 842000, "default": 969000, "policy64": 946000, "policy2000": 947000}}


def bench(file_default, exec_default=969000, none_shift=0):
    rows = []
    figures = {"file": {"none": 27000 + none_shift, "default": file_default, "policy64": 29000 + none_shift,
                        "policy2000": 29100 + none_shift},
               "exec": {"none": 842000 + none_shift, "default": exec_default, "policy64": 946000 + none_shift,
                        "policy2000": 947000 + none_shift}}
    for kind, cfgs in figures.items():
        for cfg, v in cfgs.items():
            for rnd in (1, 2, 3):
                rows.append("config=%s round=%d kind=%s ns_per_op=%d cpu_ns_per_op=1" % (cfg, rnd, kind, v))
    return g.medians(rows)


def main():
    _, r = g.check(bench(28300), BASE)
    assert r == [], r
    _, r = g.check(bench(28300 + int(0.11 * 28300)), BASE)  # +11 % per file op with the agent
    assert r == ["file/default"], r
    _, r = g.check(bench(28300 + int(0.09 * 28300)), BASE)  # +9 %: within the limit
    assert r == [], r
    _, r = g.check(bench(28300, exec_default=969000 * 2), BASE)
    assert r == ["exec/default"], r
    # A kernel update that moves every configuration alike is not a regression.
    _, r = g.check(bench(28300 + 5000, exec_default=969000 + 5000, none_shift=5000), BASE)
    assert r == [], r
    try:
        g.medians(["config=none round=1 kind=file ns_per_op=1"])
    except g.GuardError:
        pass
    else:
        raise AssertionError("missing figures must be an error")
    print("test_icount_guard: ok")


if __name__ == "__main__":
    main()
