#!/usr/bin/env bash
# `make run | jq` must work: everything `make run` prints on stdout (make's own lines, setup, the
# build) must be the agent's NDJSON. Runs `make run` (debug build, already built by `make test`)
# in its own process group, stops it with SIGTERM once documents arrive, and checks every stdout
# line as JSON (what `jq` needs). Needs root (the agent loads BPF).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "make-run-stdout: FAIL: $*" >&2; echo "--- stdout (first lines)" >&2; head -5 "$tmp/out" >&2; \
         echo "--- stderr (last lines)" >&2; tail -20 "$tmp/err" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "make-run-stdout: SKIPPED (LOUDLY): needs root to load BPF programs" >&2; exit 0; }
setsid make -C "$repo" --no-print-directory run CONFIG=debug \
    ARGS="--scope all --no-cloud-metadata --stats-interval 0 --state-dir $tmp/state" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 600); do
    [ -s "$tmp/out" ] && [ "$(wc -l < "$tmp/out")" -ge 3 ] && break
    kill -0 "$pid" 2>/dev/null || fail "make run exited early"
    sleep 0.2
done
# SIGTERM to the agent alone, as a supervisor would send it: make then exits with the agent's status
# (a signal to the whole group would also kill make, which then fails whatever the agent did).
pkill -TERM -g "$pid" -x defend || fail "no defend process in make run's process group"
wait "$pid" || fail "make run did not exit 0 after SIGTERM to the agent"
pid=""
lines=$(wc -l < "$tmp/out")
[ "$lines" -ge 3 ] || fail "only $lines lines on stdout"
python3 - "$tmp/out" > "$tmp/bad" <<'PY' || fail "stdout is not a stream of JSON documents"
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    doc = json.loads(line)
    if not isinstance(doc, dict) or "@timestamp" not in doc:
        print(n, line[:200])
PY
[ ! -s "$tmp/bad" ] || fail "stdout lines that are not ECS documents: $(head -3 "$tmp/bad")"
echo "make-run-stdout: ok: $lines NDJSON documents on stdout, nothing else (build output on stderr)" >&2
