"""Per-program cost from the --profile pass of tools/bench-vm: each BPF program's run time and runs over one
loop of each kind, from `defend status --json` before and after it. Under `-icount shift=0` a guest
nanosecond is one emulated instruction, so the figures are instructions (helpers included).
usage: bench-profile.py OUT_DIR FILE_OPS EXECS MODE"""
import json
import os
import sys

out, file_ops, execs, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
unit = "instructions" if mode == "icount" else "ns"
print("bench-vm profile: BPF programs per operation (%s, BPF statistics on)" % unit)
for cfg in ("default", "policy64", "policy2000"):
    for kind, ops in (("file", file_ops), ("exec", execs)):
        try:
            snaps = [json.load(open(os.path.join(out, "profile-%s-%s-%d.json" % (cfg, kind, i)))) for i in (0, 1)]
        except (OSError, ValueError) as e:
            print("  %-10s %-4s no profile (%s)" % (cfg, kind, e))
            continue
        before = {p["name"]: p for p in snaps[0]["snapshot"]["kernel"]["programs"]}
        rows, total = [], 0.0
        for p in snaps[1]["snapshot"]["kernel"]["programs"]:
            b = before.get(p["name"], {"runTimeNs": 0, "runCount": 0})
            t, n = p["runTimeNs"] - b["runTimeNs"], p["runCount"] - b["runCount"]
            if n <= 0:
                continue
            total += t / ops
            rows.append("%s %.0f (%.2f runs, %.0f/run)" % (p["name"].replace("defend_", ""), t / ops, n / ops, t / n))
        print("  %-10s %-4s %6.0f per op in BPF: %s" % (cfg, kind, total, "; ".join(sorted(rows))))
