"""Summarises bench.txt written by the guest half of tools/bench-vm: medians per configuration and the
ratio to the no-agent baseline. usage: bench-report.py BENCH_TXT ROUNDS FILE_OPS EXECS MODE (icount|wall)"""
import statistics
import sys

rows = [dict(w.split("=", 1) for w in line.split() if "=" in w) for line in open(sys.argv[1]) if line.strip()]
rounds, file_ops, execs, mode = sys.argv[2:6]
if mode == "icount":
    clock = "1 vCPU, -icount shift=0: 1 'us' = 1000 emulated guest instructions, deterministic"
else:
    clock = "2 vCPUs, real time: noisy under TCG, read the spread"
print("bench-vm: QEMU/TCG guest (%s); %s rounds of %s open/write/close and %s spawn+exec of busybox true, "
      "in a container cgroup; medians over rounds" % (clock, rounds, file_ops, execs))
configs = ["none", "default", "policy64", "policy2000"]
targets = {"file": 3.0, "exec": 2.0}
metrics = [("ns_per_op", "elapsed per op (on 1 vCPU this includes the agent's own processing)"),
           ("cpu_ns_per_op", "workload CPU per op (user+sys incl. in-kernel BPF hooks; excludes the agent; "
                             "tick-sampled, ~1-2 % resolution)")]
for metric, title in metrics:
    print(" %s:" % title)
    for kind in ("file", "exec"):
        base = None
        for cfg in configs:
            v = [int(r[metric]) for r in rows if r.get("config") == cfg and r.get("kind") == kind and metric in r]
            if not v:
                print("  %-5s %-9s no data" % (kind, cfg))
                continue
            med = statistics.median(v)
            spread = "min %.2f max %.2f" % (min(v) / 1000, max(v) / 1000)
            if cfg == "none":
                base = med
                print("  %-5s %-9s %9.2f us/op  (%s)" % (kind, cfg, med / 1000, spread))
                continue
            ratio = med / base if base else float("nan")
            over = (ratio - 1) * 100
            note = ""
            if cfg == "default":
                note = "  target <= %.0f%%: %s" % (targets[kind], "met" if over <= targets[kind] else "NOT met")
            print("  %-5s %-9s %9.2f us/op  (%s)  ratio %.3f  overhead %+.1f%%%s"
                  % (kind, cfg, med / 1000, spread, ratio, over, note))
# The path-matching cost must not grow with the number of path values: 2,000 values against 155.
for kind in ("file", "exec"):
    v = {cfg: statistics.median([int(r["ns_per_op"]) for r in rows if r.get("config") == cfg
                                 and r.get("kind") == kind and "ns_per_op" in r] or [0])
         for cfg in ("none", "policy64", "policy2000")}
    if v["none"] and v["policy64"] > v["none"]:
        grow = (v["policy2000"] - v["none"]) / (v["policy64"] - v["none"])
        print("  %-5s agent's cost with 2,000 path values vs 155: x%.3f (target: does not grow)" % (kind, grow))
for cfg in configs[1:]:
    docs = [int(r["documents"]) for r in rows if r.get("config") == cfg and "documents" in r]
    if docs:
        print("  documents written per round with %s: median %d" % (cfg, statistics.median(docs)))
