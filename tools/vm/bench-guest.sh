# Guest half of tools/bench-vm (ROUNDS, FILE_OPS, EXECS, PROFILE are prepended, and /tmp/policy2000.yaml is
# written before this). Each round measures the two loops with no agent, then with the default policy, then
# with /job/policy.yaml (64 selectors), then with /tmp/policy2000.yaml (the same selectors carrying 2,000
# path values).
measure() {  # CONFIG ROUND
    for kind in file exec; do
        if [ $kind = file ]; then r=$(in-container loopbench file "$FILE_OPS" /tmp/work/bench.dat)
        else r=$(in-container loopbench exec "$EXECS" /bin/true); fi
        echo "config=$1 round=$2 kind=$kind $r" >>/out/bench.txt
    done
}
policy_args() {  # CONFIG
    case $1 in
        default) ;;
        policy64) echo "--policy /job/policy.yaml" ;;
        policy2000) echo "--policy /tmp/policy2000.yaml" ;;
    esac
}
# Warm-up (discarded): the first run of each loop pays for QEMU translating the code it executes.
measure warmup 0
round=1
while [ $round -le "$ROUNDS" ]; do
    measure none $round
    for cfg in default policy64 policy2000; do
        # shellcheck disable=SC2046
        if ! defend-start /tmp/events.ndjson /out/agent-$cfg.log $(policy_args $cfg) --scope all; then
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
# Profile (PROFILE=1; not part of the measured rounds, as the statistics cost a clock read per program run):
# each BPF program's instructions (run time on this clock) and runs over one loop of each kind, from the
# agent's status before and after the loop.
if [ "${PROFILE:-0}" = 1 ]; then
    for cfg in default policy64 policy2000; do
        # shellcheck disable=SC2046
        defend-start /tmp/events.ndjson /out/agent-$cfg.log $(policy_args $cfg) --scope all --bpf-stats || exit 1
        for kind in file exec; do
            usleep 1500000  # a fresh snapshot (published at most once a second)
            defend status --json >/out/profile-$cfg-$kind-0.json || exit 1
            if [ $kind = file ]; then in-container loopbench file "$FILE_OPS" /tmp/work/bench.dat >/dev/null
            else in-container loopbench exec "$EXECS" /bin/true >/dev/null; fi
            usleep 1500000
            defend status --json >/out/profile-$cfg-$kind-1.json || exit 1
        done
        defend-stop 2>>/out/agent-$cfg.log || echo "agent ($cfg) did not stop cleanly" >&2
        rm -f /tmp/events.ndjson
    done
    echo "profile done"
fi
