"""Prints a 64-selector policy of tools/bench-vm: 32 file + 32 process selectors, 8 responses per
section (40 entries per section, under the limit of 64). Most selectors never match the benchmark's
workload, like a real policy's many specific rules; one file and one process selector match everything
of their kind (log/alert), so the agent also does its per-event work.

usage: gen-policy64.py [VALUES]   VALUES: path values over the 62 specific selectors in all (default 155:
3 per file selector, 2 per process selector); 2000 gives the "many values" configuration (policy2000)."""
import sys

values = int(sys.argv[1]) if len(sys.argv) > 1 else 0
FILE_OPS = ["createExecutable", "modifyExecutable", "createFile", "modifyFile", "deleteFile"]


def spread(total, buckets, i):
    """How many of `total` values bucket i of `buckets` gets (as even as possible)."""
    return total // buckets + (1 if i < total % buckets else 0)


out = ["file:", "  selectors:"]
for i in range(31):
    ops = sorted({FILE_OPS[i % 5], FILE_OPS[(i * 3 + 1) % 5]})
    if values:
        n = spread(values // 2, 31, i)
        kinds = ["/srv/app%02d/svc%02d/**", "/var/lib/data%02d/set%02d/*", "/etc/conf%02d/file%02d.yaml"]
        paths = [kinds[j % 3] % (i, j) for j in range(n)]
    else:
        paths = ["/srv/app%02d/**" % i, "/var/lib/data%02d/*" % i, "/etc/conf%02d.yaml" % i]
    out += ["    - name: file%02d" % i,
            "      operation: [%s]" % ", ".join(ops),
            "      targetFilePath: [%s]" % ", ".join(paths)]
out += ["    - name: driftAnywhere", "      operation: [createExecutable, modifyExecutable]", "  responses:"]
names = ["file%02d" % i for i in range(31)] + ["driftAnywhere"]
for r in range(8):
    out += ["    - match: [%s]" % ", ".join(names[r * 4:(r + 1) * 4]),
            "      actions: [%s]" % ("alert" if r % 2 else "log")]
out += ["process:", "  selectors:"]
for i in range(31):
    if values:
        n = spread(values - values // 2, 31, i)
        kinds = ["/opt/vendor%02d/bin%02d/*", "/usr/local/tool%02d/v%02d/**"]
        exes = [kinds[j % 2] % (i, j) for j in range(n)]
    else:
        exes = ["/opt/vendor%02d/bin/*" % i, "/usr/local/tool%02d/**" % i]
    out += ["    - name: proc%02d" % i,
            "      operation: [%s]" % ("exec" if i % 2 else "fork, exec"),
            "      processExecutable: [%s]" % ", ".join(exes),
            "      processName: [tool%02d, helper%02d]" % (i, i)]
out += ["    - name: allExecs", "      operation: [exec]", "  responses:"]
names = ["proc%02d" % i for i in range(31)] + ["allExecs"]
for r in range(8):
    out += ["    - match: [%s]" % ", ".join(names[r * 4:(r + 1) * 4]), "      actions: [log]"]
print("\n".join(out))
