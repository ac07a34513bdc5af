"""Regression guard on guest instruction counts (tools/vm-guard).

Reads the bench.txt that tools/bench-vm's guest half writes (one line per configuration, round and loop) and
compares the per-operation cost with the agent against a committed baseline. Under QEMU's
`-icount shift=0,sleep=off` one guest nanosecond is one emulated instruction, so `ns_per_op` is an
instruction count per operation and repeats within ~0.5 %: a fixed threshold is not flaky.

The guarded quantity is the instruction count per operation with the agent running. What the workload costs
without the agent (the `none` configuration) is measured in the same boot and held fixed, so that a new
point release of the guest kernel, which moves every configuration alike, does not read as a regression:
  fail when  (agent - none)_now  >  (agent - none)_baseline + LIMIT * agent_baseline
i.e. when the per-operation count with the agent grows by more than LIMIT (10 %) over the baseline.

usage: icount_guard.py check BENCH_TXT BASELINE_JSON     exit 1 on a regression, 2 on unusable input
       icount_guard.py update BENCH_TXT BASELINE_JSON    writes the baseline from this run
"""
import json
import statistics
import sys

LIMIT = 0.10
CONFIGS = ("default", "policy64", "policy2000")
KINDS = ("file", "exec")


class GuardError(Exception):
    pass


def medians(lines):
    rows = [dict(w.split("=", 1) for w in line.split() if "=" in w) for line in lines if line.strip()]
    out = {}
    for kind in KINDS:
        for cfg in ("none",) + CONFIGS:
            values = [int(r["ns_per_op"]) for r in rows
                      if r.get("config") == cfg and r.get("kind") == kind and "ns_per_op" in r]
            if not values:
                raise GuardError("no %s/%s figure in the benchmark output" % (kind, cfg))
            out.setdefault(kind, {})[cfg] = statistics.median(values)
    return out


def check(measured, baseline):
    """Returns (report lines, list of regressions)."""
    lines, regressions = [], []
    for kind in KINDS:
        base, now = baseline[kind], measured[kind]
        lines.append("  %-4s none      %10.0f instr/op (baseline %.0f)" % (kind, now["none"], base["none"]))
        for cfg in CONFIGS:
            added_now = now[cfg] - now["none"]
            added_base = base[cfg] - base["none"]
            allowed = added_base + LIMIT * base[cfg]
            growth = (now["none"] + added_now) / (base["none"] + added_base) - 1 if base[cfg] else float("nan")
            verdict = "ok" if added_now <= allowed else "REGRESSION"
            lines.append("  %-4s %-9s %10.0f instr/op, agent adds %7.0f (baseline %7.0f, allowed %7.0f): "
                         "%+.1f %% vs baseline, limit +%.0f %%: %s"
                         % (kind, cfg, now[cfg], added_now, added_base, allowed, growth * 100, LIMIT * 100,
                            verdict))
            if verdict != "ok":
                regressions.append("%s/%s" % (kind, cfg))
    return lines, regressions


def main(argv):
    if len(argv) != 4 or argv[1] not in ("check", "update"):
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    mode, bench, baseline_path = argv[1:]
    try:
        with open(bench) as f:
            measured = medians(f)
    except (OSError, GuardError, ValueError) as e:
        print("icount-guard: cannot read %s: %s" % (bench, e), file=sys.stderr)
        return 2
    if mode == "update":
        with open(baseline_path, "w") as f:
            json.dump(measured, f, indent=2, sort_keys=True)
            f.write("\n")
        print("icount-guard: baseline written to %s" % baseline_path)
        return 0
    try:
        with open(baseline_path) as f:
            baseline = json.load(f)
    except (OSError, ValueError) as e:
        print("icount-guard: cannot read baseline %s: %s" % (baseline_path, e), file=sys.stderr)
        return 2
    lines, regressions = check(measured, baseline)
    print("icount-guard: guest instructions per operation with the agent vs %s" % baseline_path)
    print("\n".join(lines))
    if regressions:
        print("icount-guard: FAIL: %s grew more than %.0f %% over the baseline" % (", ".join(regressions),
                                                                               LIMIT * 100))
        return 1
    print("icount-guard: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
