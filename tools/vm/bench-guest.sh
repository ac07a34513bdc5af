# Guest half of tools/bench-vm (ROUNDS, FILE_OPS, EXECS are prepended). Each round measures the two loops
# with no agent, then with the default policy, then with /job/policy.yaml (64 selectors).
measure() {  # CONFIG ROUND
    for kind in file exec; do
        if [ $kind = file ]; then r=$(in-container loopbench file "$FILE_OPS" /tmp/work/bench.dat)
        else r=$(in-container loopbench exec "$EXECS" /bin/true); fi
        echo "config=$1 round=$2 kind=$kind $r" >>/out/bench.txt
    done
}
# Warm-up (discarded): the first run of each loop pays for QEMU translating the code it executes.
measure warmup 0
round=1
while [ $round -le "$ROUNDS" ]; do
    measure none $round
    for cfg in default policy64; do
        if [ $cfg = default ]; then pol=; else pol="--policy /job/policy.yaml"; fi
        # shellcheck disable=SC2086
        if ! defend-start /tmp/events.ndjson /out/agent-$cfg.log $pol --scope all; then
            echo "agent ($cfg) did not start" >&2; exit 1
        fi
        measure $cfg $round
        defend-stop 2>>/out/agent-$cfg.log || echo "agent ($cfg) did not stop cleanly" >&2
        echo "config=$cfg round=$round documents=$(wc -l </tmp/events.ndjson)" >>/out/bench.txt
        rm -f /tmp/events.ndjson
    done
    echo "round $round done"
    round=$((round + 1))
done
