"""Prints the 64-selector policy of tools/bench-vm: 32 file + 32 process selectors, 8 responses per
section (40 entries per section, under the limit of 64). Most selectors never match the benchmark's
workload, like a real policy's many specific rules; one file and one process selector match everything
of their kind (log/alert), so the agent also does its per-event work."""
FILE_OPS = ["createExecutable", "modifyExecutable", "createFile", "modifyFile", "deleteFile"]
out = ["file:", "  selectors:"]
for i in range(31):
    ops = sorted({FILE_OPS[i % 5], FILE_OPS[(i * 3 + 1) % 5]})
    out += ["    - name: file%02d" % i,
            "      operation: [%s]" % ", ".join(ops),
            "      targetFilePath: [/srv/app%02d/**, /var/lib/data%02d/*, /etc/conf%02d.yaml]" % (i, i, i)]
out += ["    - name: driftAnywhere", "      operation: [createExecutable, modifyExecutable]", "  responses:"]
names = ["file%02d" % i for i in range(31)] + ["driftAnywhere"]
for r in range(8):
    out += ["    - match: [%s]" % ", ".join(names[r * 4:(r + 1) * 4]),
            "      actions: [%s]" % ("alert" if r % 2 else "log")]
out += ["process:", "  selectors:"]
for i in range(31):
    out += ["    - name: proc%02d" % i,
            "      operation: [%s]" % ("exec" if i % 2 else "fork, exec"),
            "      processExecutable: [/opt/vendor%02d/bin/*, /usr/local/tool%02d/**]" % (i, i),
            "      processName: [tool%02d, helper%02d]" % (i, i)]
out += ["    - name: allExecs", "      operation: [exec]", "  responses:"]
names = ["proc%02d" % i for i in range(31)] + ["allExecs"]
for r in range(8):
    out += ["    - match: [%s]" % ", ".join(names[r * 4:(r + 1) * 4]), "      actions: [log]"]
print("\n".join(out))
