# Live policy reload (file replaced + SIGHUP): log-only -> blocking takes effect without a restart;
# an invalid policy is rejected and the blocking one stays in force.
wait_log() {  # PATTERN: wait (<= 30 s) until agent.log has a line with PATTERN
    i=0
    while ! grep -q "$1" /out/agent.log; do
        i=$((i + 1)); [ $i -gt 300 ] && { echo "timeout waiting for '$1' in agent.log"; return 1; }
        usleep 100000
    done
}
replace_policy() {  # FILE: atomically replace the agent's policy file, then SIGHUP
    mv "$1" /job/policy.yaml
    kill -HUP "$(cat /run/defend.pid)"
}
in-container sh -c 'try phase1_rc sh -c "echo one > /etc/phase1"'

cat >/job/policy.new <<'POLICY'
file:
  selectors:
    - name: etcChanges
      operation: [createFile, modifyFile, deleteFile]
      targetFilePath: [/etc/**]
  responses:
    - match: [etcChanges]
      actions: [alert, block]
POLICY
replace_policy /job/policy.new
wait_log "policy reloaded"; echo reloaded=$?
in-container sh -c 'try phase2_rc sh -c "echo two > /etc/phase2"'

printf 'file:\n  selectors: [\n' >/job/policy.bad
replace_policy /job/policy.bad
wait_log "rejected"; echo rejected=$?
in-container sh -c 'try phase3_rc sh -c "echo three > /etc/phase3"'
test -e /etc/phase2; echo phase2_exists=$?
test -e /etc/phase3; echo phase3_exists=$?
